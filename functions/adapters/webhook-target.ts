/**
 * Delivers a batch to an HTTPS endpoint: a POST of the event, signed so the receiver can
 * tell it came from this subscription and was not replayed:
 *
 *   tributary-signature: t=<epoch ms>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *
 * The connection goes only to an address the rules allow, checked after resolving the name
 * at every delivery (a name that changed to a private address is refused, not followed).
 * Redirects are not followed.
 *
 * Answers, as the delivery port's outcomes: 2xx ok (a JSON body may carry
 * `batchItemFailures`, as a Lambda handler's answer does); 429 unavailable (throttled, not
 * counted); 5xx, 401, 407, 408, 409, a timeout or a connection that broke failed (retried,
 * counted); any other status rejected (the batch failed for good); a refused address, a
 * connection never made or a request node:http will not make (a header it refuses)
 * unavailable.
 */

import { createHmac } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import type {
  DeliveryOutcome,
  DeliveryPort,
  DeliveryRequest,
} from '../core/subscriptions/delivery-port.ts';
import {
  type AddressRules,
  hostOf,
  type Resolver,
  refusedAddress,
  systemResolver,
} from './target-policy.ts';

/** The signature header; the SDK's verifySignature reads it. */
export const signatureHeader = 'tributary-signature';

/** `t=<ms>,v1=<hex>`: the HMAC-SHA256 of `<t>.<body>` keyed with the secret's UTF-8 bytes. */
export function sign(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/** Bytes of a receiver's answer read at most (a partial batch response is small). */
const maxAnswerBytes = 1024 * 1024;

export class WebhookTarget implements DeliveryPort {
  readonly #rules: AddressRules;
  readonly #resolve: Resolver;
  readonly #now: () => number;

  constructor(options: { rules: AddressRules; resolve?: Resolver; now?: () => number }) {
    this.#rules = options.rules;
    this.#resolve = options.resolve ?? systemResolver;
    this.#now = options.now ?? Date.now;
  }

  async deliver(request: DeliveryRequest): Promise<DeliveryOutcome> {
    const { target } = request;
    if (target.type !== 'http') throw new Error('WebhookTarget delivers to http targets only');
    const url = new URL(target.url);
    const host = hostOf(url);
    if (ipaddr.isValid(host)) {
      const reason = refusedAddress(host, this.#rules);
      if (reason) return refusedOutcome(url, reason);
    }
    const headers: Record<string, string> = {
      // The subscription's own user-agent, if it gives one, replaces ours (node:http keeps
      // the last of two names that differ only in case).
      'user-agent': 'Tributary',
      ...target.headers,
      'content-type': 'application/json',
      'tributary-subscription': `${request.subscription.topic}/${request.subscription.name}`,
      'content-length': String(Buffer.byteLength(request.body)),
    };
    if (request.secret !== undefined) {
      headers[signatureHeader] = sign(request.secret, this.#now(), request.body);
    }
    let refusal: string | undefined;
    const lookupAllowed: LookupFunction = (hostname, _options, callback) => {
      this.#resolve(hostname).then(
        (addresses) => {
          for (const address of addresses) {
            const reason = refusedAddress(address, this.#rules);
            if (reason) {
              refusal = reason;
              callback(new Error(reason), '', 4);
              return;
            }
          }
          const [first] = addresses;
          if (first === undefined) {
            callback(new Error(`${hostname} has no address`), '', 4);
            return;
          }
          const family = ipaddr.parse(first).kind() === 'ipv6' ? 6 : 4;
          callback(null, first, family);
        },
        (error: unknown) =>
          callback(error instanceof Error ? error : new Error(String(error)), '', 4),
      );
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<DeliveryOutcome>((resolve) => {
      let req: ReturnType<typeof send>;
      try {
        req = send(url, {
          method: 'POST',
          headers,
          lookup: lookupAllowed,
          timeout: request.timeoutMs,
          signal: AbortSignal.timeout(request.timeoutMs),
        });
      } catch (error: unknown) {
        // A request node:http will not make (a header saved before values were checked):
        // never sent, so retried uncounted, and said in describe rather than thrown.
        const reason = error instanceof Error ? error.message : String(error);
        resolve({ kind: 'unavailable', error: `${url.host}: ${reason}`, throttled: false });
        return;
      }
      req.on('response', (response) => {
        readAnswer(response).then(
          (body) => resolve(outcomeOf(url, response.statusCode ?? 0, body)),
          () => resolve({ kind: 'failed', error: `${url.host}: the answer broke off` }),
        );
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (refusal) resolve(refusedOutcome(url, refusal));
        else if (error.name === 'AbortError' || error.message === 'timeout') {
          resolve({
            kind: 'failed',
            error: `${url.host} did not answer within ${request.timeoutMs} ms`,
          });
        } else if (req.reusedSocket || error.code === 'ECONNRESET') {
          resolve({ kind: 'failed', error: `${url.host}: ${error.message}` });
        } else {
          resolve({
            kind: 'unavailable',
            error: `${url.host}: ${error.message}`,
            throttled: false,
          });
        }
      });
      req.end(request.body);
    });
  }
}

function outcomeOf(url: URL, status: number, body: string): DeliveryOutcome {
  if (status >= 200 && status < 300) return { kind: 'ok', body };
  const error = `${url.host} answered ${status}${body ? `: ${body.slice(0, 200)}` : ''}`;
  if (status === 429) return { kind: 'unavailable', error, throttled: true };
  if (status >= 500 || retriedStatuses.has(status)) return { kind: 'failed', error };
  return { kind: 'rejected', error };
}

/**
 * The 4xx answers that another attempt may get past, retried (and counted) as EventBridge's
 * API destinations retry them: 401 and 407 (credentials being rotated: a receiver's new
 * secret before the subscription's), 408 (the receiver gave up waiting), 409 (a conflict
 * of the moment). Any other 4xx is a refusal retrying cannot fix.
 */
const retriedStatuses = new Set([401, 407, 408, 409]);

const refusedOutcome = (url: URL, reason: string): DeliveryOutcome => ({
  kind: 'unavailable',
  error: `${url.host} is not a public address (${reason}); webhooks may not reach private networks`,
  throttled: false,
});

async function readAnswer(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.byteLength;
    if (size > maxAnswerBytes) break;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
