import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeploymentTargetPolicy } from './adapters/target-policy.ts';
import { Authorizer } from './core/auth/authorizer.ts';
import type { CoreContext } from './core/context.ts';
import { BatchReader } from './core/log/batch-reader.ts';
import { WriterCache } from './core/log/writer-cache.ts';
import type { MetadataStore } from './core/ports/metadata-store.ts';
import type { SegmentStore } from './core/ports/segment-store.ts';
import type { TargetPolicy } from './core/subscriptions/subscription.ts';
import type { CorsOrigins } from './http/cors.ts';
import { createHandler, type Handler } from './http/handler.ts';
import type { Logger } from './http/logger.ts';
import { type Metrics, noMetrics } from './http/metrics.ts';
import type { HttpDeps } from './http/routes/route.ts';
import { LocalMaintenance, type MaintenanceService } from './maintenance/service.ts';
import { defaultMaintenanceSettings, type MaintenanceSettings } from './maintenance/settings.ts';

export interface AppOptions {
  readonly metadata: MetadataStore;
  readonly segments: SegmentStore;
  readonly log: Logger;
  readonly cacheBytes: number;
  /** How acks=0 work runs: see {@link HttpDeps.defer}. */
  readonly defer: HttpDeps['defer'];
  readonly now?: () => number;
  /** Where counters go (CloudWatch in Lambda); nowhere by default. */
  readonly metrics?: Metrics;
  /** API keys and ACLs, with the bootstrap admin key's SHA-256; absent: auth off. */
  readonly auth?: { readonly adminKeyHash: string };
  /**
   * How `POST /v1/admin/maintenance` runs a pass: by default in this process (a
   * {@link LocalMaintenance} over the same stores, with `maintenanceSettings`); in AWS, a
   * state machine execution.
   */
  readonly maintenance?: (ctx: CoreContext) => MaintenanceService;
  readonly maintenanceSettings?: Partial<MaintenanceSettings>;
  /** Which targets subscriptions may call; by default any function, and public webhooks only. */
  readonly targets?: TargetPolicy;
  /** Origins browsers may call the API from (`*`: any); none by default. */
  readonly corsOrigins?: CorsOrigins;
}

/** Wires the core and the HTTP handler over a pair of stores. */
export function createApp(options: AppOptions): Handler {
  const ctx: CoreContext = {
    metadata: options.metadata,
    segments: options.segments,
    now: options.now ?? Date.now,
    newId: randomUUID,
  };
  return createHandler({
    ...(options.auth && {
      // Keys and ACLs read are trusted for 10 s: a revocation reaches every instance within it.
      auth: new Authorizer(ctx, { adminKeyHash: options.auth.adminKeyHash, cacheMs: 10_000 }),
    }),
    ctx,
    ...(options.corsOrigins && { corsOrigins: options.corsOrigins }),
    reader: new BatchReader(options.segments, options.cacheBytes),
    // A topic read is trusted for 5 s by writers only: their commit re-checks its version.
    writers: new WriterCache({ topicTtlMs: 5_000, maxItems: 20_000 }),
    sleep: (ms) => sleep(ms),
    defer: options.defer,
    targets:
      options.targets ??
      new DeploymentTargetPolicy({ allowedFunctions: undefined, rules: { allowLoopback: false } }),
    log: options.log,
    metrics: options.metrics ?? noMetrics,
    maintenance:
      options.maintenance?.(ctx) ??
      new LocalMaintenance({
        ctx,
        settings: { ...defaultMaintenanceSettings, ...options.maintenanceSettings },
        log: options.log,
        metrics: options.metrics ?? noMetrics,
      }),
  });
}

/** Runs acks=0 work after the response; failures are logged (nobody is waiting for them). */
export const deferInBackground =
  (log: Logger): HttpDeps['defer'] =>
  async (task) => {
    task().catch((error: unknown) => log.error('acks=0 write failed', { error }));
  };

/** Lambda freezes after it responds, so acks=0 work completes first; failures are logged. */
export const deferBeforeResponse =
  (log: Logger): HttpDeps['defer'] =>
  async (task) => {
    await task().catch((error: unknown) => log.error('acks=0 write failed', { error }));
  };
