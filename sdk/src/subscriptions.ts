import { bodyOf } from './answers.ts';
import { type HttpClient, segment } from './http.ts';

/**
 * Where a subscription delivers: a Lambda function (its name or ARN, invoked with
 * `RequestResponse`), or an HTTPS endpoint that receives each batch as a signed POST.
 *
 * @example
 * const toLambda: SubscriptionTarget = { type: 'lambda', function: 'order-projector' };
 * const toWebhook: SubscriptionTarget = { type: 'http', url: 'https://hooks.example.com/orders' };
 */
export type SubscriptionTarget =
  | { readonly type: 'lambda'; readonly function: string }
  | {
      readonly type: 'http';
      readonly url: string;
      /** Sent with every request, e.g. an authorization header of your own. */
      readonly headers?: Readonly<Record<string, string>>;
    };

/**
 * How a subscription delivers: the controls of Lambda's stream event source mappings.
 *
 * @example
 * const settings: SubscriptionSettings = { batchSize: 500, maxRetryAttempts: 3, onFailure: { topic: 'orders.dlq' } };
 */
export interface SubscriptionSettings {
  /** Records per delivery, 1 to 10,000; default 100. */
  readonly batchSize?: number;
  /** Gather records up to this long (0 to 300,000 ms) before delivering fewer than batchSize; default 0. */
  readonly maxBatchingWindowMs?: number;
  /** Retries after the first failure, 0 to 10,000; -1 (default): until delivered or too old. */
  readonly maxRetryAttempts?: number;
  /** Failed records older than this (60,000 to 604,800,000 ms) stop being retried; -1 (default): no limit. */
  readonly maxRecordAgeMs?: number;
  /** Split a failing batch in two, to isolate a bad record; default false. */
  readonly bisectBatchOnFunctionError?: boolean;
  /**
   * A topic that receives records whose retries are exhausted, with headers saying why.
   * Without one, the partition waits at the failing record rather than drop it.
   */
  readonly onFailure?: { readonly topic: string } | null;
  /** An EventBridge-style pattern on the record value, e.g. `{ value: { type: ['order'] } }`. */
  readonly filter?: Readonly<Record<string, unknown>> | null;
  /** Default true. */
  readonly enabled?: boolean;
}

/**
 * A subscription to create.
 *
 * @example
 * const request: CreateSubscription = {
 *   name: 'projector',
 *   target: { type: 'lambda', function: 'order-projector' },
 *   startingPosition: 'TRIM_HORIZON',
 *   batchSize: 200,
 * };
 */
export interface CreateSubscription extends SubscriptionSettings {
  /** Unique per topic: 1-249 of a-z, A-Z, 0-9, '.', '_', '-'. */
  readonly name: string;
  readonly target: SubscriptionTarget;
  /** Where delivery starts: new records (default), every retained record, or a time. */
  readonly startingPosition?: 'LATEST' | 'TRIM_HORIZON' | 'AT_TIMESTAMP';
  /** Epoch ms, with AT_TIMESTAMP. */
  readonly startingPositionTimestamp?: number;
}

/**
 * A change to a subscription: the settings given change, the rest stay.
 *
 * @example
 * const pause: SubscriptionPatch = { enabled: false };
 */
export interface SubscriptionPatch extends SubscriptionSettings {
  /** Replace an http target's signing secret; the answer carries the new one, once. */
  readonly rotateSecret?: boolean;
}

/**
 * One partition of a subscription: how far delivery got and how it is going.
 *
 * @example
 * const stuck = (await tributary.topics.subscriptions.describe('orders', 'projector'))
 *   .partitions.filter((p: SubscriptionPartition) => p.state === 'waiting');
 */
export interface SubscriptionPartition {
  readonly partition: number;
  /** The next offset to deliver. */
  readonly position: number;
  readonly highWatermark: number;
  /** Records not yet delivered: highWatermark - position. */
  readonly lag: number;
  /**
   * idle: caught up or about to deliver; delivering: a dispatcher holds it; retrying: the
   * batch at `position` failed and is retried with backoff; waiting: its retries are
   * exhausted and there is no onFailure, so it waits for a fix (tried again every few
   * minutes and at once after any update).
   */
  readonly state: 'idle' | 'delivering' | 'retrying' | 'waiting';
  /** Failed attempts at the batch at `position`. */
  readonly attempts: number;
  /** When the failing batch is tried again (epoch ms), or null. */
  readonly nextAttemptAt: number | null;
  readonly lastError: {
    readonly message: string;
    readonly at: number;
    readonly offset: number;
  } | null;
  /** Raised each time a dispatcher takes the partition. */
  readonly leaseEpoch: number;
  /** Records the target took. */
  readonly delivered: number;
  /** Records the filter skipped (counted as delivered). */
  readonly filtered: number;
  /** Failed deliveries. */
  readonly failed: number;
  /** Records sent to the onFailure topic. */
  readonly deadLettered: number;
  /** Records retention removed before they could be delivered. */
  readonly expired: number;
}

/**
 * A subscription as `list` shows it.
 *
 * @example
 * const names = (await tributary.topics.subscriptions.list('orders')).map((s: SubscriptionSummary) => s.name);
 */
export interface SubscriptionSummary {
  readonly name: string;
  readonly topic: string;
  readonly id: string;
  /** Header values of http targets are not shown. */
  readonly target: SubscriptionTarget;
  readonly enabled: boolean;
  readonly createdAt: number;
}

/**
 * A subscription, its settings, and its progress on every partition.
 *
 * @example
 * const { state, lag, partitions } = await tributary.topics.subscriptions.describe('orders', 'projector');
 */
export interface SubscriptionDescription extends SubscriptionSummary {
  readonly batchSize: number;
  readonly maxBatchingWindowMs: number;
  readonly maxRetryAttempts: number;
  readonly maxRecordAgeMs: number;
  readonly bisectBatchOnFunctionError: boolean;
  readonly onFailure: { readonly topic: string } | null;
  readonly filter: Readonly<Record<string, unknown>> | null;
  readonly startingPosition: 'LATEST' | 'TRIM_HORIZON' | 'AT_TIMESTAMP';
  readonly startingPositionTimestamp: number | null;
  /**
   * disabled; waiting when a partition waits on a failing record; retrying when one is
   * retrying; else active.
   */
  readonly state: 'active' | 'disabled' | 'retrying' | 'waiting';
  /** Records not yet delivered, over all partitions. */
  readonly lag: number;
  readonly partitions: readonly SubscriptionPartition[];
  /**
   * An http target's signing secret: present only in the answer that created it (or
   * rotated it). Keep it: it is never shown again.
   */
  readonly secret?: string;
}

/**
 * One record as a subscription delivers it: the shape of Lambda's Kafka event records,
 * key and value in base64, header values as byte arrays.
 *
 * @example
 * const text = (r: SubscriptionEventRecord) => (r.value === null ? null : atob(r.value));
 */
export interface SubscriptionEventRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** Epoch ms. */
  readonly timestamp: number;
  readonly timestampType: 'CREATE_TIME' | 'LOG_APPEND_TIME';
  /** Base64 of the key's bytes; absent for a record without a key. */
  readonly key?: string;
  /** Base64 of the value's bytes; null for a tombstone. */
  readonly value: string | null;
  /** One object per header, `{ name: [bytes…] }` (null for a null header value). */
  readonly headers: readonly Readonly<Record<string, number[] | null>>[];
}

/**
 * What a subscription's target receives: the event Lambda's self-managed Kafka event
 * source sends, so a handler written for MSK or Kafka runs unchanged. `records` is keyed
 * `topic-partition`; a batch holds records of one partition, in offset order.
 *
 * @example
 * export const handler = async (event: SubscriptionEvent): Promise<SubscriptionEventResponse> => {
 *   for (const records of Object.values(event.records)) {
 *     for (const record of records) console.log(record.offset, record.value && atob(record.value));
 *   }
 *   return { batchItemFailures: [] };
 * };
 */
export interface SubscriptionEvent {
  readonly eventSource: 'SelfManagedKafka';
  /** The Tributary API's URL. */
  readonly bootstrapServers: string;
  readonly records: Readonly<Record<string, readonly SubscriptionEventRecord[]>>;
}

/**
 * A handler's optional answer: the offsets (as strings) of records it could not process.
 * Delivery resumes from the lowest; records before it are done. An empty list, or no
 * answer at all, means everything succeeded.
 *
 * @example
 * const answer: SubscriptionEventResponse = { batchItemFailures: [{ itemIdentifier: '42' }] };
 */
export interface SubscriptionEventResponse {
  readonly batchItemFailures: readonly { readonly itemIdentifier: string }[];
}

/** The header a webhook's signature travels in. */
const signatureHeader = 'tributary-signature';

/**
 * Checks a webhook request's `tributary-signature` header (`t=<ms>,v1=<hex>`): an
 * HMAC-SHA256, keyed with the subscription's secret, of `<t>.<raw body>`, made no longer
 * than `toleranceMs` ago (default 5 minutes) so a captured request cannot be replayed
 * later. Give it the body exactly as received, before any JSON parsing. Uses Web Crypto, so
 * it runs in Node.js, browsers, Deno, Bun and edge runtimes.
 *
 * @example
 * const ok = await verifySignature({
 *   secret: process.env.TRIBUTARY_WEBHOOK_SECRET ?? '',
 *   header: request.headers.get('tributary-signature'),
 *   body: await request.text(),
 * });
 */
export async function verifySignature(options: {
  readonly secret: string;
  readonly header: string | null | undefined;
  readonly body: string | Uint8Array;
  readonly toleranceMs?: number;
  readonly now?: number;
}): Promise<boolean> {
  const parts = (options.header ?? '').split(',').map((part) => part.trim().split('='));
  const t = parts.find(([name]) => name === 't')?.[1];
  const signatures = parts.filter(([name]) => name === 'v1').map(([, value]) => value ?? '');
  if (t === undefined || !/^\d{1,16}$/.test(t) || signatures.length === 0) return false;
  const age = (options.now ?? Date.now()) - Number(t);
  if (Math.abs(age) > (options.toleranceMs ?? 300_000)) return false;
  const encoder = new TextEncoder();
  const body = typeof options.body === 'string' ? encoder.encode(options.body) : options.body;
  const signed = new Uint8Array(t.length + 1 + body.byteLength);
  signed.set(encoder.encode(`${t}.`));
  signed.set(body, t.length + 1);
  const key = await crypto.subtle.importKey(
    'raw',
    encoder.encode(options.secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, signed));
  const expected = Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
  return signatures.some((signature) => constantTimeEqual(signature, expected));
}

/** Compares without stopping at the first difference, so timing says nothing about where. */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/**
 * Push subscriptions of a topic: `tributary.topics.subscriptions`. Creating or changing one
 * needs READ and ALTER on the topic (and WRITE on an onFailure topic); listing and
 * describing, DESCRIBE; deleting, ALTER.
 *
 * @example
 * await tributary.topics.subscriptions.create('orders', {
 *   name: 'projector',
 *   target: { type: 'lambda', function: 'order-projector' },
 * });
 */
export class Subscriptions {
  /**
   * The header name webhook requests carry their signature in.
   *
   * @example
   * const header = request.headers.get(Subscriptions.signatureHeader);
   */
  static readonly signatureHeader = signatureHeader;
  readonly #http: HttpClient;

  /** @internal Use `tributary.topics.subscriptions`. */
  constructor(http: HttpClient) {
    this.#http = http;
  }

  /**
   * Subscribes a target to a topic. `SUBSCRIPTION_ALREADY_EXISTS` when the name is taken,
   * `TOPIC_NOT_FOUND`, `INVALID_SUBSCRIPTION` for a target this deployment may not call. For
   * an http target the answer carries `secret`, shown this once.
   *
   * @example
   * const { secret } = await tributary.topics.subscriptions.create('orders', {
   *   name: 'audit-hook',
   *   target: { type: 'http', url: 'https://hooks.example.com/orders' },
   *   filter: { value: { type: ['order'] } },
   * });
   */
  async create(topic: string, subscription: CreateSubscription): Promise<SubscriptionDescription> {
    return bodyOf(
      await this.#http.request({
        method: 'POST',
        path: `/v1/topics/${segment(topic)}/subscriptions`,
        body: subscription,
        // A resend after a lost answer would say SUBSCRIPTION_ALREADY_EXISTS, and the secret
        // the first attempt made would be lost.
        idempotent: false,
      }),
    );
  }

  /**
   * The topic's subscriptions, in name order.
   *
   * @example
   * for (const { name, enabled } of await tributary.topics.subscriptions.list('orders')) console.log(name, enabled);
   */
  async list(topic: string): Promise<SubscriptionSummary[]> {
    const answer = await this.#http.request({
      method: 'GET',
      path: `/v1/topics/${segment(topic)}/subscriptions`,
      idempotent: true,
    });
    return bodyOf<{ subscriptions: SubscriptionSummary[] }>(answer).subscriptions;
  }

  /**
   * A subscription's settings and, per partition, its position, lag, state, last error and
   * counts. `SUBSCRIPTION_NOT_FOUND`.
   *
   * @example
   * const { lag, state } = await tributary.topics.subscriptions.describe('orders', 'projector');
   */
  async describe(topic: string, name: string): Promise<SubscriptionDescription> {
    return bodyOf(
      await this.#http.request({
        method: 'GET',
        path: `/v1/topics/${segment(topic)}/subscriptions/${segment(name)}`,
        idempotent: true,
      }),
    );
  }

  /**
   * Changes settings: enable, disable, batching, retries, onFailure, filter. A partition
   * waiting on a failing record tries it again at once.
   *
   * @example
   * await tributary.topics.subscriptions.update('orders', 'projector', { enabled: false });
   */
  async update(
    topic: string,
    name: string,
    patch: SubscriptionPatch,
  ): Promise<SubscriptionDescription> {
    return bodyOf(
      await this.#http.request({
        method: 'PATCH',
        path: `/v1/topics/${segment(topic)}/subscriptions/${segment(name)}`,
        body: patch,
        // Setting values is idempotent; rotating a secret is not (the first new one is lost).
        idempotent: patch.rotateSecret !== true,
      }),
    );
  }

  /**
   * Deletes a subscription; delivery stops at once (a batch in flight completes).
   *
   * @example
   * await tributary.topics.subscriptions.delete('orders', 'projector');
   */
  async delete(topic: string, name: string): Promise<void> {
    await this.#http.request({
      method: 'DELETE',
      path: `/v1/topics/${segment(topic)}/subscriptions/${segment(name)}`,
      idempotent: true,
    });
  }
}
