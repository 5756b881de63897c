/**
 * A small Lambda: an HTTP server that speaks the Invoke API the way the Lambda service does,
 * running handler functions in this process. The dispatcher talks to it through the real
 * `@aws-sdk/client-lambda`, so the client, its wire format and its error shapes are the
 * ones it meets in AWS:
 *
 *   POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=…]   body: the event
 *   200  X-Amz-Executed-Version: $LATEST                     body: the handler's result
 *   200  X-Amz-Function-Error: Unhandled                     body: {"errorType", "errorMessage"}
 *        (a handler that throws, or runs past its timeout: "Task timed out after …")
 *   404  x-amzn-ErrorType: ResourceNotFoundException          no such function
 *   429  x-amzn-ErrorType: TooManyRequestsException           over the function's concurrency,
 *        Retry-After                                          or the handler threw `throttled()`
 *   413  x-amzn-ErrorType: RequestTooLargeException           a payload over 6 MB
 *   202  (X-Amz-Invocation-Type: Event)                       queued; the handler runs after
 */

import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type LambdaHandler = (event: unknown) => Promise<unknown>;

export interface LambdaFunction {
  readonly handler: LambdaHandler;
  /** As a function's configured timeout: past it, the invocation fails. Default 30 s. */
  readonly timeoutMs?: number;
  /** Reserved concurrency: invocations beyond it are throttled (429). */
  readonly concurrency?: number;
}

/** Thrown by a handler to have the invocation answered as Lambda throttling it. */
export class Throttled extends Error {
  override readonly name = 'Throttled';
}

export interface LambdaServer {
  /** http://127.0.0.1:<port>: the client's endpoint (AWS_ENDPOINT_URL_LAMBDA). */
  readonly url: string;
  readonly functions: Map<string, LambdaFunction>;
  /** Invocations answered, by function name. */
  readonly invocations: Map<string, number>;
  close(): Promise<void>;
}

const maxPayloadBytes = 6 * 1024 * 1024;
const invokePath = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

export async function startLambdaServer(
  functions: Record<string, LambdaFunction> = {},
): Promise<LambdaServer> {
  const registry = new Map(Object.entries(functions));
  const invocations = new Map<string, number>();
  const inFlight = new Map<string, number>();
  const server = createServer((req, res) => {
    void answer(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, 500, 'ServiceException', String(error));
    });
  });

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = invokePath.exec(url.pathname);
    const body = await read(req);
    if (req.method !== 'POST' || !match?.[1]) {
      sendError(
        res,
        404,
        'UnknownOperationException',
        `no operation ${req.method} ${url.pathname}`,
      );
      return;
    }
    const name = functionName(decodeURIComponent(match[1]));
    const fn = registry.get(name);
    if (!fn) {
      sendError(res, 404, 'ResourceNotFoundException', `Function not found: ${name}`);
      return;
    }
    if (body.byteLength > maxPayloadBytes) {
      sendError(
        res,
        413,
        'RequestTooLargeException',
        'Request must be smaller than 6291456 bytes for the InvokeFunction operation',
      );
      return;
    }
    if (req.headers['x-amz-invocation-type'] === 'Event') {
      // Asynchronous: queued, answered 202 at once; the handler runs afterwards.
      invocations.set(name, (invocations.get(name) ?? 0) + 1);
      res.writeHead(202).end();
      void fn.handler(JSON.parse(body.toString('utf8'))).catch(() => undefined);
      return;
    }
    const running = inFlight.get(name) ?? 0;
    if (fn.concurrency !== undefined && running >= fn.concurrency) {
      throttle(res);
      return;
    }
    inFlight.set(name, running + 1);
    invocations.set(name, (invocations.get(name) ?? 0) + 1);
    try {
      const event: unknown = JSON.parse(body.toString('utf8'));
      const result = await withTimeout(fn.handler(event), fn.timeoutMs ?? 30_000);
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-amz-executed-version': '$LATEST',
      });
      res.end(result === undefined ? 'null' : JSON.stringify(result));
    } catch (error: unknown) {
      if (error instanceof Throttled) {
        throttle(res);
        return;
      }
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-amz-executed-version': '$LATEST',
        'x-amz-function-error': 'Unhandled',
      });
      const e = error instanceof Error ? error : new Error(String(error));
      res.end(JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: [] }));
    } finally {
      inFlight.set(name, (inFlight.get(name) ?? 1) - 1);
    }
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    functions: registry,
    invocations,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The function's name from a name, a partial ARN or a full ARN, without a qualifier. */
function functionName(ref: string): string {
  const parts = ref.split(':');
  const at = parts.indexOf('function');
  return at === -1 ? (parts[0] ?? '') : (parts[at + 1] ?? '');
}

class TimedOut extends Error {
  override readonly name = 'Sandbox.Timedout';
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TimedOut(`Task timed out after ${(ms / 1000).toFixed(2)} seconds`)),
      ms,
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function throttle(res: ServerResponse): void {
  res.setHeader('retry-after', '1');
  sendError(res, 429, 'TooManyRequestsException', 'Rate Exceeded.', {
    Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
  });
}

function sendError(
  res: ServerResponse,
  status: number,
  type: string,
  message: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type });
  res.end(JSON.stringify({ Type: 'User', message, ...extra }));
}

async function read(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}
