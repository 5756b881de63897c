import { once } from 'node:events';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * How the proxy fails a produce request while failures are on:
 * - `throttled`: 429 `THROTTLED` in the API's error shape; the server never sees it.
 * - `unavailable`: 503 `STORAGE_UNAVAILABLE` in the API's error shape; never forwarded.
 * - `gateway-timeout`: forwarded, processed and committed by the server, then answered
 *   504 `{"message":"Endpoint request timed out"}`, as API Gateway answers when the
 *   integration outlives its timeout: the write landed, the client cannot know it.
 */
export type ProduceFailure = 'throttled' | 'unavailable' | 'gateway-timeout';

export interface FlakyProxy {
  /** http://127.0.0.1:<port>, in front of the server. */
  readonly url: string;
  /** Produce requests (POST …/records) that reached the proxy, answered or failed. */
  readonly produceAttempts: () => number;
  /**
   * Fails every produce request for `ms` from now (`Infinity`: until told otherwise),
   * taking the failures in turn from `failures`; other requests pass through.
   */
  failProduces(ms: number, failures: readonly ProduceFailure[]): void;
  close(): Promise<void>;
}

const isProduce = (incoming: IncomingMessage) =>
  incoming.method === 'POST' && /\/records(\?|$)/.test(incoming.url ?? '');

function answerError(answer: ServerResponse, status: number, code: string, message: string) {
  answer.writeHead(status, { 'content-type': 'application/json' });
  answer.end(JSON.stringify({ error: { code, message } }));
}

/**
 * A real HTTP endpoint in front of a running server that answers produce requests with
 * retryable failures for a while, then forwards them: what a client sees through a
 * throttling spike or an API Gateway / Lambda hiccup.
 */
export async function startFlakyProxy(target: string): Promise<FlakyProxy> {
  const upstream = new URL(target);
  let failingUntil = 0;
  let failures: readonly ProduceFailure[] = [];
  let attempts = 0;

  const forward = (incoming: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>(
      (resolve, reject) => {
        const forwarded = request(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: incoming.method,
            path: incoming.url,
            headers: incoming.headers,
          },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.once('end', () =>
              resolve({
                status: response.statusCode ?? 502,
                headers: response.headers,
                body: Buffer.concat(chunks),
              }),
            );
            response.once('error', reject);
          },
        );
        forwarded.once('error', reject);
        forwarded.end(body);
      },
    );

  const proxy = createServer(async (incoming, answer) => {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    let failure: ProduceFailure | undefined;
    if (isProduce(incoming)) {
      attempts++;
      if (Date.now() < failingUntil && failures.length > 0) {
        failure = failures[(attempts - 1) % failures.length];
      }
    }
    if (failure === 'throttled') {
      answerError(answer, 429, 'THROTTLED', 'A storage service throttled the request.');
      return;
    }
    if (failure === 'unavailable') {
      answerError(answer, 503, 'STORAGE_UNAVAILABLE', 'A storage service did not answer.');
      return;
    }
    try {
      const response = await forward(incoming, body);
      if (failure === 'gateway-timeout') {
        answer.writeHead(504, { 'content-type': 'application/json' });
        answer.end(JSON.stringify({ message: 'Endpoint request timed out' }));
        return;
      }
      answer.writeHead(response.status, response.headers);
      answer.end(response.body);
    } catch {
      answer.writeHead(502).end();
    }
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    produceAttempts: () => attempts,
    failProduces(ms, list) {
      failingUntil = Date.now() + ms;
      failures = list;
    },
    close: async () => {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
