import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { LambdaTarget } from '../adapters/aws/lambda-target.ts';
import { type AddressRules, DeploymentTargetPolicy } from '../adapters/target-policy.ts';
import { WebhookTarget } from '../adapters/webhook-target.ts';
import type { CoreContext } from '../core/context.ts';
import { BatchReader } from '../core/log/batch-reader.ts';
import { WriterCache } from '../core/log/writer-cache.ts';
import type { MetadataStore } from '../core/ports/metadata-store.ts';
import type { SegmentStore } from '../core/ports/segment-store.ts';
import type { DeliveryPort, DeliveryRequest } from '../core/subscriptions/delivery-port.ts';
import type { TargetPolicy } from '../core/subscriptions/subscription.ts';
import type { Logger } from '../http/logger.ts';
import type { DispatchConfig } from './config.ts';
import { Dispatcher } from './dispatcher.ts';
import { type DispatchMetrics, noDispatchMetrics } from './metrics.ts';

/** Sends each batch to the adapter for its target's kind. */
export class Targets implements DeliveryPort {
  readonly #lambda: DeliveryPort;
  readonly #http: DeliveryPort;

  constructor(lambda: DeliveryPort, http: DeliveryPort) {
    this.#lambda = lambda;
    this.#http = http;
  }

  deliver(request: DeliveryRequest) {
    return (request.target.type === 'lambda' ? this.#lambda : this.#http).deliver(request);
  }
}

/**
 * The Lambda client targets are invoked with: one attempt per call (the dispatcher retries,
 * with its own backoff and accounting), and the SDK's standard configuration otherwise —
 * region, credentials, and AWS_ENDPOINT_URL_LAMBDA for a local endpoint.
 */
export const lambdaClient = (): LambdaClient => new LambdaClient({ maxAttempts: 1 });

/** Which targets the deployment allows, for the API and the dispatcher alike. */
export const targetPolicy = (config: DispatchConfig, rules: AddressRules): TargetPolicy =>
  new DeploymentTargetPolicy({ allowedFunctions: config.subscriberFunctions, rules });

export interface DispatcherOptions {
  readonly metadata: MetadataStore;
  readonly segments: SegmentStore;
  /** Epoch ms; injected so tests can move time. */
  readonly now?: () => number;
  readonly config: DispatchConfig;
  readonly rules: AddressRules;
  readonly log: Logger;
  readonly bootstrapServers: string;
  readonly cacheBytes: number;
  readonly metrics?: DispatchMetrics;
  /** Delivery, when not the real adapters (the Lambda client and webhooks). */
  readonly delivery?: DeliveryPort;
  readonly lambda?: LambdaClient;
  /** Partitions delivered at once; default 16. */
  readonly concurrency?: number;
}

/** A dispatcher over the given stores, delivering through the real adapters. */
export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const { config } = options;
  const ctx: CoreContext = {
    metadata: options.metadata,
    segments: options.segments,
    now: options.now ?? Date.now,
    newId: randomUUID,
  };
  const policy = targetPolicy(config, options.rules);
  const delivery =
    options.delivery ??
    new Targets(
      new AllowedOnly(policy, new LambdaTarget(options.lambda ?? lambdaClient())),
      new WebhookTarget({ rules: options.rules, now: ctx.now }),
    );
  return new Dispatcher(
    {
      ctx,
      reader: new BatchReader(options.segments, options.cacheBytes),
      writers: new WriterCache({ topicTtlMs: 5_000, maxItems: 10_000 }),
      delivery,
      retry: {
        backoffBaseMs: config.backoffBaseMs,
        backoffMaxMs: config.backoffMaxMs,
        waitingProbeMs: config.waitingProbeMs,
        random: Math.random,
      },
      // Twice a delivery: room for one and the writes around it. A crashed holder's
      // partitions wait at most this long before another dispatcher takes them.
      leaseMs: 2 * config.deliveryTimeoutMs,
      deliveryTimeoutMs: config.deliveryTimeoutMs,
      bootstrapServers: options.bootstrapServers,
      metrics: options.metrics ?? noDispatchMetrics,
      log: options.log,
      sleep: (ms) => sleep(ms),
    },
    { concurrency: options.concurrency ?? 16, maxWaitMs: Math.min(2_000, config.intervalMs * 2) },
  );
}

/**
 * Re-checks a Lambda target against the deployment's list at every delivery: the list may
 * have shrunk since the subscription was saved. A function no longer listed is not invoked.
 */
class AllowedOnly implements DeliveryPort {
  readonly #policy: TargetPolicy;
  readonly #next: DeliveryPort;

  constructor(policy: TargetPolicy, next: DeliveryPort) {
    this.#policy = policy;
    this.#next = next;
  }

  async deliver(request: DeliveryRequest) {
    try {
      await this.#policy.check(request.target);
    } catch (error: unknown) {
      const message = error instanceof Error ? error.message : String(error);
      return { kind: 'unavailable', error: message, throttled: false } as const;
    }
    return this.#next.deliver(request);
  }
}
