import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { LambdaClient } from '@aws-sdk/client-lambda';
import type { AddressRules } from '../../functions/adapters/target-policy.ts';
import { createApp, deferInBackground } from '../../functions/app.ts';
import { hashApiKey } from '../../functions/core/auth/api-keys.ts';
import { type DispatchConfig, readDispatchConfig } from '../../functions/dispatch/config.ts';
import type { Dispatcher } from '../../functions/dispatch/dispatcher.ts';
import {
  type LocalDispatch,
  startLocalDispatch,
  wakingDispatch,
} from '../../functions/dispatch/local.ts';
import type { DispatchMetrics } from '../../functions/dispatch/metrics.ts';
import { createDispatcher, targetPolicy } from '../../functions/dispatch/runtime.ts';
import { silentLogger } from '../../functions/http/logger.ts';
import { createLocalServer } from '../../functions/local/server.ts';
import type { OpenBackend } from './backends.ts';
import type { LambdaServer } from './lambda-server.ts';

/** Settings for fast tests: retries in milliseconds, short timeouts. */
export const fastDispatch: DispatchConfig = {
  ...readDispatchConfig({}),
  intervalMs: 50,
  deliveryTimeoutMs: 2_000,
  backoffBaseMs: 5,
  backoffMaxMs: 40,
  waitingProbeMs: 200,
};

/** The real Lambda client, aimed at the test's Lambda server as AWS_ENDPOINT_URL_LAMBDA would. */
export const lambdaClientFor = (lambda: LambdaServer): LambdaClient =>
  new LambdaClient({
    endpoint: lambda.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'tributarytest', secretAccessKey: 'tributarytest' },
    maxAttempts: 1,
  });

/** How a test's dispatcher differs from the fast defaults. */
export interface DispatchOptions {
  readonly config?: Partial<DispatchConfig>;
  readonly now?: () => number;
  readonly rules?: AddressRules;
  readonly metrics?: DispatchMetrics;
  /** Turn the API's auth on with this bootstrap admin key. */
  readonly adminKey?: string;
}

export interface DispatchServer {
  readonly url: string;
  readonly dispatch: LocalDispatch;
  readonly dispatcher: Dispatcher;
  close(): Promise<void>;
}

/** A dispatcher over the stores, delivering through the real adapters to the Lambda server. */
export function testDispatcher(
  stores: OpenBackend,
  lambda: LambdaServer,
  options: DispatchOptions = {},
): Dispatcher {
  return createDispatcher({
    metadata: stores.metadata,
    segments: stores.segments,
    config: { ...fastDispatch, ...options.config },
    rules: options.rules ?? { allowLoopback: true },
    log: silentLogger,
    bootstrapServers: 'http://127.0.0.1:8080',
    cacheBytes: 4 * 1024 * 1024,
    lambda: lambdaClientFor(lambda),
    ...(options.now && { now: options.now }),
    ...(options.metrics && { metrics: options.metrics }),
  });
}

/**
 * The local server as `npm start` runs it — the API and the dispatcher in one process —
 * on a free loopback port, delivering Lambda targets to `lambda`.
 */
export async function startDispatchServer(
  stores: OpenBackend,
  lambda: LambdaServer,
  options: DispatchOptions = {},
): Promise<DispatchServer> {
  const config = { ...fastDispatch, ...options.config };
  const rules = options.rules ?? { allowLoopback: true };
  const dispatcher = testDispatcher(stores, lambda, options);
  const dispatch = startLocalDispatch(dispatcher, { ...config, log: silentLogger });
  const app = createApp({
    metadata: stores.metadata,
    segments: stores.segments,
    log: silentLogger,
    cacheBytes: 4 * 1024 * 1024,
    defer: deferInBackground(silentLogger),
    targets: targetPolicy(config, rules),
    ...(options.now && { now: options.now }),
    ...(options.adminKey && { auth: { adminKeyHash: hashApiKey(options.adminKey) } }),
  });
  const server = createLocalServer(wakingDispatch(app, dispatch), silentLogger);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    dispatch,
    dispatcher,
    close: async () => {
      await dispatch.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Polls `check` until it returns true, or fails after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
