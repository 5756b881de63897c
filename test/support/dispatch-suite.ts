import { afterAll, beforeAll } from 'vitest';
import type { OpenBackend, StorageBackend } from './backends.ts';
import { type DispatchOptions, type DispatchServer, startDispatchServer } from './dispatch.ts';
import { type LambdaServer, startLambdaServer } from './lambda-server.ts';

export interface DispatchSuite {
  readonly stores: OpenBackend;
  readonly lambda: LambdaServer;
  readonly server: DispatchServer;
}

/**
 * For a describe block: fresh stores on `backend`, a Lambda server, and the local server
 * with its dispatcher, started before its tests and stopped after them.
 *
 * @example
 * describe.each(backends)('$name', (backend) => {
 *   const suite = dispatchSuite(backend);
 *   it('…', async () => { await call(suite.server.url, 'GET', '/v1/topics'); });
 * });
 */
export function dispatchSuite(
  backend: StorageBackend,
  options: DispatchOptions = {},
): DispatchSuite {
  let started: DispatchSuite | undefined;
  beforeAll(async () => {
    const stores = await backend.open();
    const lambda = await startLambdaServer();
    started = { stores, lambda, server: await startDispatchServer(stores, lambda, options) };
  });
  afterAll(async () => {
    await started?.server.close();
    await started?.lambda.close();
    await started?.stores.close();
  });
  const get = (): DispatchSuite => {
    if (!started) throw new Error('the suite has not started');
    return started;
  };
  return {
    get stores() {
      return get().stores;
    },
    get lambda() {
      return get().lambda;
    },
    get server() {
      return get().server;
    },
  };
}
