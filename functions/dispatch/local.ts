import type { Handler } from '../http/handler.ts';
import type { Logger } from '../http/logger.ts';
import type { Dispatcher, PassScope } from './dispatcher.ts';

/** The local server's dispatcher: what the DynamoDB Stream and the schedule do in AWS. */
export interface LocalDispatch {
  /** Delivers what is new on a topic now (after a produce, or a subscription change). */
  wake(topic: string): void;
  /** Resolves once no pass is running: for tests and a clean shutdown. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

/** How long one local pass may start deliveries before the next one takes over. */
const passMs = 60_000;

/**
 * Runs the dispatcher in the local server's process: a pass over a topic when it is woken
 * (the local stand-in for the table's stream), and a pass over everything every
 * `intervalMs` (the stand-in for the schedule), which picks up retries that came due.
 */
export function startLocalDispatch(
  dispatcher: Dispatcher,
  options: {
    readonly intervalMs: number;
    readonly deliveryTimeoutMs: number;
    readonly log: Logger;
  },
): LocalDispatch {
  const passes = new Set<Promise<unknown>>();
  let fullPass: Promise<unknown> | undefined;
  let stopped = false;
  const run = (scope: PassScope) => {
    const pass = dispatcher
      .pass(scope, Date.now() + options.deliveryTimeoutMs + passMs)
      .catch((error: unknown) => options.log.error('dispatch pass failed', { error }))
      .finally(() => passes.delete(pass));
    passes.add(pass);
    return pass;
  };
  const timer = setInterval(() => {
    if (stopped || fullPass) return;
    fullPass = run({ kind: 'all' }).finally(() => {
      fullPass = undefined;
    });
  }, options.intervalMs);
  timer.unref();
  return {
    wake: (topic) => {
      if (!stopped) run({ kind: 'topics', names: new Set([topic]) });
    },
    settled: async () => {
      while (passes.size > 0) await Promise.all(passes);
    },
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      dispatcher.stop();
      while (passes.size > 0) await Promise.all(passes);
    },
  };
}

/** Produces and subscription changes, by path: what wakes the local dispatcher. */
const wakingRoute = /^\/v1\/topics\/([^/]+)\/(records|subscriptions(\/[^/]+)?)\/?$/;

/** The handler, waking the dispatcher for a topic after a request that may give it work. */
export function wakingDispatch(handler: Handler, dispatch: Pick<LocalDispatch, 'wake'>): Handler {
  return async (event) => {
    const response = await handler(event);
    const match = wakingRoute.exec(event.rawPath);
    const method = event.requestContext.http.method.toUpperCase();
    const status = response.statusCode ?? 200;
    if (match?.[1] && method !== 'GET' && status < 300) {
      dispatch.wake(decodeURIComponent(match[1]));
    }
    return response;
  };
}
