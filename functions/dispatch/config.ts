import { type Env, integer } from '../config.ts';

/**
 * The dispatcher's configuration, read once at start from the environment; a bad value
 * fails loudly then. The construct sets these on the dispatcher (and the allowed functions
 * on the API too); the local server reads the same names.
 */
export interface DispatchConfig {
  /** Run the dispatcher in the local server (TRIBUTARY_DISPATCH=on|off, default on). */
  readonly enabled: boolean;
  /** The local server's safety-net pass (TRIBUTARY_DISPATCH_INTERVAL_MS, default 1000). */
  readonly intervalMs: number;
  /** A delivery gives up after this long (TRIBUTARY_DELIVERY_TIMEOUT_MS, default 60,000). */
  readonly deliveryTimeoutMs: number;
  /** First retry backoff (TRIBUTARY_RETRY_BACKOFF_MS, default 1,000), doubling to... */
  readonly backoffBaseMs: number;
  /** ...at most this (TRIBUTARY_RETRY_BACKOFF_MAX_MS, default 60,000). */
  readonly backoffMaxMs: number;
  /** How often a waiting partition tries again (TRIBUTARY_WAITING_PROBE_MS, default 300,000). */
  readonly waitingProbeMs: number;
  /**
   * The Lambda functions subscriptions may invoke (TRIBUTARY_SUBSCRIBER_FUNCTIONS, ARNs
   * separated by commas); undefined when unset: any function.
   */
  readonly subscriberFunctions: readonly string[] | undefined;
  /** What events carry as bootstrapServers (TRIBUTARY_PUBLIC_URL): the API's URL. */
  readonly publicUrl: string | undefined;
}

export function readDispatchConfig(env: Env = process.env): DispatchConfig {
  const enabled = env.TRIBUTARY_DISPATCH ?? 'on';
  if (enabled !== 'on' && enabled !== 'off') {
    throw new Error(`TRIBUTARY_DISPATCH must be on or off; got '${enabled}'`);
  }
  const functions = env.TRIBUTARY_SUBSCRIBER_FUNCTIONS;
  return {
    enabled: enabled === 'on',
    intervalMs: integer(env, 'TRIBUTARY_DISPATCH_INTERVAL_MS', 1_000, 10, 3_600_000),
    deliveryTimeoutMs: integer(env, 'TRIBUTARY_DELIVERY_TIMEOUT_MS', 60_000, 10, 900_000),
    backoffBaseMs: integer(env, 'TRIBUTARY_RETRY_BACKOFF_MS', 1_000, 1, 3_600_000),
    backoffMaxMs: integer(env, 'TRIBUTARY_RETRY_BACKOFF_MAX_MS', 60_000, 1, 3_600_000),
    waitingProbeMs: integer(env, 'TRIBUTARY_WAITING_PROBE_MS', 300_000, 10, 86_400_000),
    subscriberFunctions:
      functions === undefined
        ? undefined
        : functions
            .split(',')
            .map((f) => f.trim())
            .filter((f) => f !== ''),
    publicUrl: env.TRIBUTARY_PUBLIC_URL || undefined,
  };
}
