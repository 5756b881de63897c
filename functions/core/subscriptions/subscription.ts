import type { SubscriptionDescription } from '../../../sdk/src/subscriptions.ts';
import { TributaryError } from '../errors.ts';
import { isLegalName } from '../names.ts';
import type { ItemKey, JsonObject, JsonValue, StoredItem } from '../ports/metadata-store.ts';
import type { FilterPattern } from './filter.ts';

/**
 * Where subscriptions live in the metadata store.
 *
 *   pk "subscriptions"            sk <topicId>#<name>  the subscription: target, settings,
 *                                                       a revision raised by every change
 *   pk "subscription#<id>"        sk "start"           where each partition starts (from
 *                                                       startingPosition, fixed at creation)
 *                                 sk "p#<partition>"   the partition's cursor: position,
 *                                                       lease, retry state, counters
 *   pk "deleted-subscriptions"    sk <id>              a deleted subscription whose items
 *                                                       are still being removed
 *
 * The registry is keyed by topic id, so a topic deleted and created again under its name
 * starts with no subscriptions, and a purge of the old topic finds them by its id. The
 * registry items stay small (no per-partition data): the dispatcher reads them all on
 * every pass. Each subscription has an id of its own, so one re-created under a deleted
 * one's name never inherits a cursor a crashed delete left behind.
 */
export const subscriptionsPk = 'subscriptions';
export const deletedSubscriptionsPk = 'deleted-subscriptions';
export const registryKey = (topicId: string, name: string): ItemKey => ({
  pk: subscriptionsPk,
  sk: `${topicId}#${name}`,
});
/** The range of registry sort keys of one topic's subscriptions. */
export const registryRange = (topicId: string) => ({ from: `${topicId}#`, to: `${topicId}#~` });
export const subscriptionPk = (id: string): string => `subscription#${id}`;
export const startKey = (id: string): ItemKey => ({ pk: subscriptionPk(id), sk: 'start' });
export const cursorSkPrefix = 'p#';
export const cursorKey = (id: string, partition: number): ItemKey => ({
  pk: subscriptionPk(id),
  sk: `${cursorSkPrefix}${String(partition).padStart(6, '0')}`,
});
export const deletedSubscriptionKey = (id: string): ItemKey => ({
  pk: deletedSubscriptionsPk,
  sk: id,
});

export type SubscriptionTarget =
  | { readonly type: 'lambda'; readonly function: string }
  | {
      readonly type: 'http';
      readonly url: string;
      readonly headers: Readonly<Record<string, string>>;
    };

export type StartingPosition = 'LATEST' | 'TRIM_HORIZON' | 'AT_TIMESTAMP';

/**
 * What a subscription does, all of which PATCH may change: the settings of the SDK's
 * description (documented there), with the filter as the stored JSON it is.
 */
export type SubscriptionSettings = Pick<
  SubscriptionDescription,
  | 'batchSize'
  | 'maxBatchingWindowMs'
  | 'maxRetryAttempts'
  | 'maxRecordAgeMs'
  | 'bisectBatchOnFunctionError'
  | 'onFailure'
  | 'enabled'
> & { readonly filter: FilterPattern | null };

export interface Subscription extends SubscriptionSettings {
  readonly id: string;
  readonly name: string;
  readonly topic: string;
  readonly topicId: string;
  readonly target: SubscriptionTarget;
  readonly startingPosition: StartingPosition;
  readonly startingPositionTimestamp: number | null;
  /** The webhook signing secret (http targets); never shown after creation. */
  readonly secret: string | null;
  readonly createdAt: number;
  /** Raised by every change; a waiting partition tries again when it moves. */
  readonly revision: number;
  /** The registry item's version, for conditional updates. */
  readonly version: number;
}

export const defaultSettings: SubscriptionSettings = {
  batchSize: 100,
  maxBatchingWindowMs: 0,
  maxRetryAttempts: -1,
  maxRecordAgeMs: -1,
  bisectBatchOnFunctionError: false,
  onFailure: null,
  filter: null,
  enabled: true,
};

/**
 * Kafka-style names, as topics have, and like a topic's not "." or "..": the name is a path
 * segment, which clients (curl, fetch, every URL parser) resolve as a dot segment, so
 * `DELETE …/subscriptions/..` would reach `DELETE /v1/topics/{topic}` instead.
 */
export function assertValidSubscriptionName(name: string): void {
  if (!isLegalName(name) || name === '.' || name === '..') {
    throw new TributaryError(
      'INVALID_REQUEST',
      `Subscription name '${name.slice(0, 300)}' is not valid: use 1-249 of a-z, A-Z, 0-9, '.', '_' and '-', not '.' or '..'.`,
      { field: 'name' },
    );
  }
}

export const subscriptionNotFound = (topic: string, name: string) =>
  new TributaryError('SUBSCRIPTION_NOT_FOUND', `Topic '${topic}' has no subscription '${name}'.`, {
    topic,
    subscription: name,
  });

export function subscriptionData(sub: Omit<Subscription, 'version'>): JsonObject {
  return {
    id: sub.id,
    name: sub.name,
    topic: sub.topic,
    topicId: sub.topicId,
    target:
      sub.target.type === 'lambda'
        ? { type: 'lambda', function: sub.target.function }
        : { type: 'http', url: sub.target.url, headers: { ...sub.target.headers } },
    startingPosition: sub.startingPosition,
    startingPositionTimestamp: sub.startingPositionTimestamp,
    secret: sub.secret,
    createdAt: sub.createdAt,
    revision: sub.revision,
    batchSize: sub.batchSize,
    maxBatchingWindowMs: sub.maxBatchingWindowMs,
    maxRetryAttempts: sub.maxRetryAttempts,
    maxRecordAgeMs: sub.maxRecordAgeMs,
    bisectBatchOnFunctionError: sub.bisectBatchOnFunctionError,
    onFailure: sub.onFailure && { topic: sub.onFailure.topic },
    // As JSON text: a pattern may hold numbers past 2^53 or below 1e-130 and an empty field
    // name, which a stored number or map (DynamoDB's) cannot hold.
    filter: sub.filter && JSON.stringify(sub.filter),
    enabled: sub.enabled,
  };
}

export function subscriptionFromItem(item: StoredItem): Subscription {
  const d = item.data;
  const target = d.target;
  const corrupt = () => new Error(`corrupt subscription item ${item.pk}/${item.sk}`);
  if (
    typeof d.id !== 'string' ||
    typeof d.name !== 'string' ||
    typeof d.topic !== 'string' ||
    typeof d.topicId !== 'string' ||
    typeof target !== 'object' ||
    target === null ||
    Array.isArray(target)
  ) {
    throw corrupt();
  }
  let parsedTarget: SubscriptionTarget;
  if (target.type === 'lambda' && typeof target.function === 'string') {
    parsedTarget = { type: 'lambda', function: target.function };
  } else if (target.type === 'http' && typeof target.url === 'string') {
    const raw = target.headers;
    // Built with fromEntries: assigned into a `{}`, a header named __proto__ would be lost.
    const headers =
      raw && typeof raw === 'object' && !Array.isArray(raw)
        ? Object.fromEntries(Object.entries(raw).map(([name, value]) => [name, String(value)]))
        : {};
    parsedTarget = { type: 'http', url: target.url, headers };
  } else {
    throw corrupt();
  }
  const onFailure = d.onFailure;
  return {
    id: d.id,
    name: d.name,
    topic: d.topic,
    topicId: d.topicId,
    target: parsedTarget,
    startingPosition: startingPositionOf(d.startingPosition),
    startingPositionTimestamp:
      typeof d.startingPositionTimestamp === 'number' ? d.startingPositionTimestamp : null,
    secret: typeof d.secret === 'string' ? d.secret : null,
    createdAt: Number(d.createdAt),
    revision: Number(d.revision),
    batchSize: Number(d.batchSize),
    maxBatchingWindowMs: Number(d.maxBatchingWindowMs),
    maxRetryAttempts: Number(d.maxRetryAttempts),
    maxRecordAgeMs: Number(d.maxRecordAgeMs),
    bisectBatchOnFunctionError: d.bisectBatchOnFunctionError === true,
    onFailure:
      onFailure && typeof onFailure === 'object' && !Array.isArray(onFailure)
        ? { topic: String(onFailure.topic) }
        : null,
    filter: filterFrom(d.filter),
    enabled: d.enabled !== false,
    version: item.version,
  };
}

/** The stored filter: JSON text, or (as first written) the pattern itself. */
function filterFrom(stored: JsonValue | undefined): FilterPattern | null {
  const filter: JsonValue | undefined = typeof stored === 'string' ? JSON.parse(stored) : stored;
  return filter && typeof filter === 'object' && !Array.isArray(filter) ? filter : null;
}

function startingPositionOf(value: unknown): StartingPosition {
  if (value === 'LATEST' || value === 'TRIM_HORIZON' || value === 'AT_TIMESTAMP') return value;
  throw new Error(`corrupt subscription: startingPosition ${String(value)}`);
}

/**
 * Where each partition starts: the offsets fixed at creation (LATEST: the heads then;
 * AT_TIMESTAMP: the first record at or after the time), or `earliest` (TRIM_HORIZON: the
 * log start when the partition is first delivered). A partition added to the topic later
 * starts at 0: all of it is newer than the subscription.
 */
export type StartOffsets = { readonly kind: 'earliest' } | { readonly offsets: readonly number[] };

export const startData = (start: StartOffsets): JsonObject =>
  'offsets' in start ? { offsets: [...start.offsets] } : { earliest: true };

export function startFromItem(item: StoredItem | undefined): StartOffsets {
  const offsets = item?.data.offsets;
  if (Array.isArray(offsets)) return { offsets: offsets.map(Number) };
  return { kind: 'earliest' };
}

/** The first offset to deliver on `partition`, given the log start when it is first read. */
export function startOffset(start: StartOffsets, partition: number, logStart: number): number {
  if (!('offsets' in start)) return logStart;
  return Math.max(start.offsets[partition] ?? 0, logStart);
}

/**
 * What the API and the dispatcher need from outside the core to judge a target: the
 * deployment's list of functions it may invoke, and where a webhook may point (no private,
 * loopback or link-local address in AWS). Throws INVALID_SUBSCRIPTION for a target it
 * refuses; implemented by functions/adapters/target-policy.ts.
 */
export interface TargetPolicy {
  check(target: SubscriptionTarget): Promise<void>;
}
