/**
 * Delivers a batch to a Lambda function: `Invoke` with `RequestResponse`, through
 * `@aws-sdk/client-lambda`, which honours AWS_ENDPOINT_URL_LAMBDA (a local endpoint that
 * speaks the Invoke API: the tests' server, `sam local start-lambda`, LocalStack).
 *
 * What Lambda answers, as the delivery port's outcomes:
 *   200, no X-Amz-Function-Error          ok: the payload is the handler's answer
 *   200, X-Amz-Function-Error             failed: the handler threw or timed out
 *   no answer within the timeout          failed: the function may have run
 *   TooManyRequestsException (429) and    unavailable, throttled: not invoked, retried
 *     the other throttles                   without counting an attempt
 *   ResourceNotFound, AccessDenied,       unavailable: not invoked (a missing function, a
 *     5xx service errors, network errors    role that may not invoke it, an outage)
 *   RequestTooLargeException (413),       rejected: retrying the same batch cannot help
 *     InvalidRequestContentException
 */

import { InvokeCommand, type InvokeCommandOutput, type LambdaClient } from '@aws-sdk/client-lambda';
import type {
  DeliveryOutcome,
  DeliveryPort,
  DeliveryRequest,
} from '../../core/subscriptions/delivery-port.ts';
import { errorName, httpStatus, messageOf } from './aws-errors.ts';

const throttles = new Set([
  'TooManyRequestsException',
  'EC2ThrottledException',
  'EFSMountConnectivityException',
  'ResourceNotReadyException',
]);
const refusals = new Set([
  'RequestTooLargeException',
  'InvalidRequestContentException',
  'UnsupportedMediaTypeException',
]);

export class LambdaTarget implements DeliveryPort {
  readonly #client: LambdaClient;

  /** The client should make one attempt per call (`maxAttempts: 1`): retries are the dispatcher's. */
  constructor(client: LambdaClient) {
    this.#client = client;
  }

  async deliver(request: DeliveryRequest): Promise<DeliveryOutcome> {
    if (request.target.type !== 'lambda')
      throw new Error('LambdaTarget delivers to functions only');
    const name = request.target.function;
    const timeout = AbortSignal.timeout(request.timeoutMs);
    let response: InvokeCommandOutput;
    try {
      response = await this.#client.send(
        new InvokeCommand({
          FunctionName: name,
          InvocationType: 'RequestResponse',
          Payload: new TextEncoder().encode(request.body),
        }),
        { abortSignal: timeout },
      );
    } catch (error: unknown) {
      return failureOf(error, name, timeout.aborted, request.timeoutMs);
    }
    const payload = response.Payload ? new TextDecoder().decode(response.Payload) : '';
    if (response.FunctionError) {
      return { kind: 'failed', error: `${name} failed: ${functionError(payload)}` };
    }
    return { kind: 'ok', body: payload };
  }
}

function failureOf(
  error: unknown,
  name: string,
  timedOut: boolean,
  timeoutMs: number,
): DeliveryOutcome {
  if (timedOut) return { kind: 'failed', error: `${name} did not answer within ${timeoutMs} ms` };
  const code = errorName(error) ?? 'Error';
  const message = `invoking ${name}: ${code}: ${messageOf(error)}`;
  if (throttles.has(code) || httpStatus(error) === 429) {
    return { kind: 'unavailable', error: message, throttled: true };
  }
  if (refusals.has(code)) return { kind: 'rejected', error: message };
  return { kind: 'unavailable', error: message, throttled: false };
}

/** `errorType: errorMessage` from the payload Lambda returns for a function error. */
function functionError(payload: string): string {
  try {
    const parsed: unknown = JSON.parse(payload);
    if (parsed && typeof parsed === 'object') {
      const type = 'errorType' in parsed ? String(parsed.errorType) : 'Error';
      const message = 'errorMessage' in parsed ? String(parsed.errorMessage) : '';
      return `${type}: ${message}`.slice(0, 1000);
    }
  } catch {
    // Not JSON: say what it was.
  }
  return payload.slice(0, 1000) || 'unknown error';
}
