import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { type AppOptions, createApp, deferInBackground } from '../../functions/app.ts';
import { hashApiKey } from '../../functions/core/auth/api-keys.ts';
import { silentLogger } from '../../functions/http/logger.ts';
import { createLocalServer } from '../../functions/local/server.ts';
import type { OpenBackend, StorageBackend } from './backends.ts';

export interface RunningServer {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly stores: OpenBackend;
  /** Stops the server; the stores stay open until `close`. */
  stop(): Promise<void>;
  close(): Promise<void>;
}

export interface ServerOptions {
  /** A controllable clock, for retention. */
  readonly now?: () => number;
  /** Reuse stores (e.g. to restart a server over the same data). */
  readonly stores?: OpenBackend;
  /** Turn auth on with this bootstrap admin key. */
  readonly adminKey?: string;
  /** How POST /v1/admin/maintenance runs (default: a pass in this process, as npm start). */
  readonly maintenance?: AppOptions['maintenance'];
  /** Origins browsers may call from (default none, as deployed). */
  readonly corsOrigins?: AppOptions['corsOrigins'];
  /** Which targets subscriptions may call (default: any function, public webhooks only). */
  readonly targets?: AppOptions['targets'];
}

/** The local server (node:http → API Gateway event → handler) on a free loopback port. */
export async function startServer(
  backend: StorageBackend,
  options: ServerOptions = {},
): Promise<RunningServer> {
  const stores = options.stores ?? (await backend.open());
  const handler = createApp({
    metadata: stores.metadata,
    segments: stores.segments,
    log: silentLogger,
    cacheBytes: 16 * 1024 * 1024,
    defer: deferInBackground(silentLogger),
    ...(options.now && { now: options.now }),
    ...(options.adminKey && { auth: { adminKeyHash: hashApiKey(options.adminKey) } }),
    ...(options.maintenance && { maintenance: options.maintenance }),
    ...(options.corsOrigins && { corsOrigins: options.corsOrigins }),
    ...(options.targets && { targets: options.targets }),
  });
  const server = createLocalServer(handler, silentLogger);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const stop = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url: `http://127.0.0.1:${port}`,
    stores,
    stop,
    close: async () => {
      await stop();
      await stores.close();
    },
  };
}

/** Headers every `call` to a deployed API sends, by the API's base URL. */
const deployedApis = new Map<string, Readonly<Record<string, string>>>();

/**
 * The other mode of the harness: a deployed API (LocalStack or AWS) instead of a local
 * server. From now on every `call` to `url` — and so every helper built on it (createTopic,
 * produce, fetchAll, join, …) — sends `headers`, e.g. the admin key. Nothing is started or
 * stopped. Only test/localstack uses it. Returns the base URL to pass to the helpers.
 */
export function useDeployedApi(url: string, headers: Readonly<Record<string, string>>): string {
  const base = url.replace(/\/+$/, '');
  deployedApis.set(base, headers);
  return base;
}

/** JSON over HTTP, returning status and parsed body. */
export async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on response bodies field by field.
): Promise<{ status: number; body: any }> {
  const init: RequestInit = { method, headers: { ...deployedApis.get(url), ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${url}${path}`, init);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
