import { randomBytes } from 'node:crypto';
import type {
  SubscriptionDescription,
  SubscriptionPartition,
  SubscriptionSummary,
} from '../../../sdk/src/subscriptions.ts';
import type { CoreContext } from '../context.ts';
import { TributaryError } from '../errors.ts';
import { topicKey } from '../keys.ts';
import type { BatchReader } from '../log/batch-reader.ts';
import { listOffset } from '../log/list-offsets.ts';
import { readPartitionStates } from '../log/partition-state.ts';
import {
  ConditionFailedError,
  expectAbsent,
  expectAny,
  expectVersion,
  type ItemKey,
  lostRace,
  type StoredItem,
} from '../ports/metadata-store.ts';
import { loadTopic, type Topic, topicNotFound } from '../topics/topic.ts';
import { assertValidTopicName } from '../topics/topic-name.ts';
import { type Cursor, cursorFromItem, newCursor } from './cursor.ts';
import { assertValidFilter } from './filter.ts';
import {
  assertValidSubscriptionName,
  cursorSkPrefix,
  deletedSubscriptionKey,
  deletedSubscriptionsPk,
  registryKey,
  registryRange,
  type StartingPosition,
  type StartOffsets,
  type Subscription,
  type SubscriptionSettings,
  type SubscriptionTarget,
  startData,
  startFromItem,
  startKey,
  startOffset,
  subscriptionData,
  subscriptionFromItem,
  subscriptionNotFound,
  subscriptionPk,
  subscriptionsPk,
  type TargetPolicy,
} from './subscription.ts';

export interface SubscriptionDeps {
  readonly ctx: CoreContext;
  /** For AT_TIMESTAMP: the offset lookup reads batches. */
  readonly reader: BatchReader;
  readonly targets: TargetPolicy;
}

export interface CreateSubscriptionRequest extends SubscriptionSettings {
  readonly name: string;
  readonly target: SubscriptionTarget;
  readonly startingPosition: StartingPosition;
  readonly startingPositionTimestamp: number | null;
}

export type SubscriptionPatch = Partial<SubscriptionSettings> & { readonly rotateSecret?: boolean };

/** Request headers a subscription may not set: the ones delivery itself decides. */
const reservedHeaders =
  /^(host|content-length|content-type|transfer-encoding|connection|tributary-.*)$/i;

/**
 * Subscribes a target to a topic. Every check comes first — the name, the settings, the
 * target (the deployment's allowed functions; no webhook to a private address), the
 * dead-letter topic — so a refused request writes nothing. Then one transaction, fenced on
 * the topic being unchanged, writes the subscription and where each partition starts.
 */
export async function createSubscription(
  deps: SubscriptionDeps,
  topicName: string,
  request: CreateSubscriptionRequest,
): Promise<SubscriptionDescription> {
  const { ctx } = deps;
  assertValidSubscriptionName(request.name);
  const topic = await loadTopic(ctx, topicName);
  await assertValidSettings(deps, topic, request);
  assertValidTarget(request.target);
  if (
    (request.startingPosition === 'AT_TIMESTAMP') !==
    (request.startingPositionTimestamp !== null)
  ) {
    throw invalid(
      'startingPositionTimestamp',
      'startingPositionTimestamp goes with startingPosition AT_TIMESTAMP, and only with it',
    );
  }
  await deps.targets.check(request.target);

  const existing = await ctx.metadata.get(registryKey(topic.id, request.name));
  if (existing) throw alreadyExists(topic.name, request.name);
  const start = await startOffsets(deps, topic, request);
  const subscription: Omit<Subscription, 'version'> = {
    ...request,
    id: ctx.newId(),
    topic: topic.name,
    topicId: topic.id,
    secret: request.target.type === 'http' ? newSecret() : null,
    createdAt: ctx.now(),
    revision: 1,
  };
  try {
    await ctx.metadata.transact([
      // The topic is the one read: not deleted, nor re-created, since.
      { type: 'check', key: topicKey(topic.name), expect: expectVersion(topic.version) },
      {
        type: 'put',
        key: registryKey(topic.id, request.name),
        data: subscriptionData(subscription),
        expect: expectAbsent,
      },
      { type: 'put', key: startKey(subscription.id), data: startData(start), expect: expectAbsent },
    ]);
  } catch (error: unknown) {
    if (error instanceof ConditionFailedError) {
      // Our own write, landed on an attempt whose answer was lost: the id is ours alone.
      const registry = error.failures.find((f) => f.index === 1)?.current;
      if (registry?.data.id === subscription.id) {
        return withSecret(await describeSubscription(ctx, topic.name, request.name), subscription);
      }
      if (registry) throw alreadyExists(topic.name, request.name);
    }
    // The topic changed (a config, its partitions, or it was deleted): judge again.
    if (await lostRace(error)) return createSubscription(deps, topicName, request);
    throw error;
  }
  return withSecret(await describeSubscription(ctx, topic.name, request.name), subscription);
}

/** Every subscription of the topic, in name order. */
export async function listSubscriptions(
  ctx: CoreContext,
  topicName: string,
): Promise<SubscriptionSummary[]> {
  const topic = await loadTopic(ctx, topicName);
  const items = await ctx.metadata.query(subscriptionsPk, registryRange(topic.id));
  return items.map((item) => summary(subscriptionFromItem(item)));
}

/** Every subscription of every topic (the dispatcher's view), or of the topics given. */
export async function allSubscriptions(
  ctx: CoreContext,
  topicIds?: Iterable<string>,
): Promise<Subscription[]> {
  const items =
    topicIds === undefined
      ? await ctx.metadata.query(subscriptionsPk)
      : (
          await Promise.all(
            [...topicIds].map((id) => ctx.metadata.query(subscriptionsPk, registryRange(id))),
          )
        ).flat();
  return items.map(subscriptionFromItem);
}

export async function loadSubscription(
  ctx: CoreContext,
  topic: Topic,
  name: string,
): Promise<Subscription> {
  const item = await ctx.metadata.get(registryKey(topic.id, name));
  if (!item) throw subscriptionNotFound(topic.name, name);
  return subscriptionFromItem(item);
}

/** The subscription, and per partition its position, lag, state, last error and counts. */
export async function describeSubscription(
  ctx: CoreContext,
  topicName: string,
  name: string,
): Promise<SubscriptionDescription> {
  const topic = await loadTopic(ctx, topicName);
  const sub = await loadSubscription(ctx, topic, name);
  const [items, states] = await Promise.all([
    ctx.metadata.query(subscriptionPk(sub.id)),
    readPartitionStates(
      ctx,
      topic,
      Array.from({ length: topic.partitions }, (_, p) => p),
    ),
  ]);
  const start = startFromItem(items.find((i) => i.sk === startKey(sub.id).sk));
  const cursors = new Map<number, Cursor>();
  for (const item of items) {
    if (item.sk.startsWith(cursorSkPrefix)) {
      cursors.set(Number(item.sk.slice(cursorSkPrefix.length)), cursorFromItem(item));
    }
  }
  const now = ctx.now();
  const partitions = states.map((state): SubscriptionPartition => {
    const cursor =
      cursors.get(state.partition) ??
      newCursor(startOffset(start, state.partition, state.logStartOffset));
    const position = Math.max(cursor.position, state.logStartOffset);
    const retry = cursor.retry?.offset === cursor.position ? cursor.retry : null;
    return {
      partition: state.partition,
      position,
      highWatermark: state.highWatermark,
      lag: Math.max(0, state.highWatermark - position),
      state: retry?.waiting
        ? 'waiting'
        : retry
          ? 'retrying'
          : cursor.holder !== null && cursor.leaseUntil > now
            ? 'delivering'
            : 'idle',
      attempts: retry?.attempts ?? 0,
      nextAttemptAt: retry?.nextAt ?? null,
      lastError: cursor.lastError,
      leaseEpoch: cursor.epoch,
      ...cursor.counts,
    };
  });
  const state = !sub.enabled
    ? 'disabled'
    : partitions.some((p) => p.state === 'waiting')
      ? 'waiting'
      : partitions.some((p) => p.state === 'retrying')
        ? 'retrying'
        : 'active';
  return {
    ...summary(sub),
    batchSize: sub.batchSize,
    maxBatchingWindowMs: sub.maxBatchingWindowMs,
    maxRetryAttempts: sub.maxRetryAttempts,
    maxRecordAgeMs: sub.maxRecordAgeMs,
    bisectBatchOnFunctionError: sub.bisectBatchOnFunctionError,
    onFailure: sub.onFailure,
    filter: sub.filter,
    startingPosition: sub.startingPosition,
    startingPositionTimestamp: sub.startingPositionTimestamp,
    state,
    lag: partitions.reduce((sum, p) => sum + p.lag, 0),
    partitions,
  };
}

/**
 * Changes settings with a conditional write on the version read, raising the revision, so a
 * partition waiting on a failing record tries it again at once (perhaps now with an
 * onFailure topic). `rotateSecret` replaces an http target's signing secret.
 */
export async function updateSubscription(
  deps: SubscriptionDeps,
  topicName: string,
  name: string,
  patch: SubscriptionPatch,
): Promise<SubscriptionDescription> {
  const { ctx } = deps;
  const topic = await loadTopic(ctx, topicName);
  for (;;) {
    const sub = await loadSubscription(ctx, topic, name);
    const { rotateSecret, ...settings } = patch;
    const next: Subscription = { ...sub, ...settings, revision: sub.revision + 1 };
    // Only what the patch names: a dead-letter topic deleted since must not stop a pause.
    await assertValidSettings(deps, topic, {
      filter: settings.filter ?? null,
      onFailure: settings.onFailure ?? null,
    });
    if (rotateSecret && sub.target.type !== 'http') {
      throw invalid('rotateSecret', 'only an http target has a signing secret');
    }
    const updated = rotateSecret ? { ...next, secret: newSecret() } : next;
    try {
      await ctx.metadata.transact([
        {
          type: 'put',
          key: registryKey(topic.id, name),
          data: subscriptionData(updated),
          expect: expectVersion(sub.version),
        },
      ]);
    } catch (error: unknown) {
      if (await lostRace(error)) continue;
      throw error;
    }
    const description = await describeSubscription(ctx, topic.name, name);
    return rotateSecret ? withSecret(description, updated) : description;
  }
}

/** Deletes the subscription: delivery stops at the dispatcher's next step; then its items go. */
export async function deleteSubscription(
  ctx: CoreContext,
  topicName: string,
  name: string,
): Promise<void> {
  const topic = await loadTopic(ctx, topicName);
  const item = await ctx.metadata.get(registryKey(topic.id, name));
  if (!item) throw subscriptionNotFound(topic.name, name);
  await removeSubscription(ctx, item);
}

/**
 * Removes every item of the subscriptions of a topic, by the topic's id: what a purge of a
 * deleted topic calls (the maintenance workflow, and the dispatcher when it meets a
 * subscription whose topic is gone). Safe to run again, or at the same time as another.
 */
export async function purgeTopicSubscriptions(ctx: CoreContext, topicId: string): Promise<void> {
  for (const item of await ctx.metadata.query(subscriptionsPk, registryRange(topicId))) {
    await removeSubscription(ctx, item);
  }
}

/**
 * Finishes deletes a crash interrupted: removes the items of every subscription still
 * listed under `deleted-subscriptions`. Returns how many it finished.
 */
export async function finishDeletedSubscriptions(ctx: CoreContext): Promise<number> {
  const pending = await ctx.metadata.query(deletedSubscriptionsPk, { limit: 25 });
  for (const item of pending) await removeItems(ctx, item.sk);
  return pending.length;
}

/**
 * Delete last what lets the rest be found: the registry item goes first, atomically with
 * a note under `deleted-subscriptions` (so nothing delivers any more, and a crash leaves the
 * note), then the cursors and start item, then the note.
 */
async function removeSubscription(ctx: CoreContext, registry: StoredItem): Promise<void> {
  const id = String(registry.data.id);
  try {
    await ctx.metadata.transact([
      { type: 'delete', key: registry, expect: expectVersion(registry.version) },
      {
        type: 'put',
        key: deletedSubscriptionKey(id),
        data: { topicId: String(registry.data.topicId), deletedAt: ctx.now() },
        expect: expectAny,
      },
    ]);
  } catch (error: unknown) {
    if (!(await lostRace(error))) throw error;
    // Changed meanwhile (or already deleted): go again from what is there now.
    const current = await ctx.metadata.get(registry);
    if (current && current.data.id === registry.data.id) return removeSubscription(ctx, current);
    return;
  }
  await removeItems(ctx, id);
}

async function removeItems(ctx: CoreContext, id: string): Promise<void> {
  for (;;) {
    const page: ItemKey[] = await ctx.metadata.query(subscriptionPk(id), { limit: 500 });
    if (page.length === 0) break;
    await ctx.metadata.deleteMany(page);
  }
  await ctx.metadata.deleteMany([deletedSubscriptionKey(id)]);
}

async function assertValidSettings(
  deps: SubscriptionDeps,
  topic: Topic,
  settings: Pick<SubscriptionSettings, 'filter' | 'onFailure'>,
): Promise<void> {
  if (settings.filter !== null) assertValidFilter(settings.filter);
  if (settings.onFailure) {
    const dlq = settings.onFailure.topic;
    // Named here too, not only where access is judged: with auth off that never runs.
    try {
      assertValidTopicName(dlq);
    } catch (error: unknown) {
      if (error instanceof TributaryError) error.details.field = 'onFailure.topic';
      throw error;
    }
    if (dlq === topic.name) {
      throw invalid('onFailure.topic', 'the dead-letter topic must not be the topic itself');
    }
    const found = await deps.ctx.metadata.get(topicKey(dlq));
    if (!found || found.data.deleted === true) {
      const error = topicNotFound(dlq);
      error.details.field = 'onFailure.topic';
      throw error;
    }
  }
}

/**
 * A webhook's headers as HTTP can carry them (RFC 9110): a name is a token, a value holds no
 * line break or NUL, which would end the header or the request early (header injection),
 * nor another control character or anything past ASCII: node:http refuses to send those and
 * anything past U+00FF (the delivery threw, every time), and sends U+0080-U+00FF as single
 * Latin-1 bytes, which a receiver reading UTF-8 would misread.
 * Checked here, not only by node:http as it sends, so a header that could never be sent is a
 * 400 naming it when the subscription is saved rather than a delivery that fails for ever.
 */
function assertValidTarget(target: SubscriptionTarget): void {
  if (target.type !== 'http') return;
  const names = Object.keys(target.headers);
  if (names.length > maxHeaders) {
    throw invalid('target.headers', `a webhook takes at most ${maxHeaders} headers`);
  }
  for (const [name, value] of Object.entries(target.headers)) {
    const field = headerField(name);
    if (!headerName.test(name)) {
      const shown = JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}…` : name);
      throw invalid(
        field,
        `${shown} is not a header name: a name is 1 to ${maxHeaderNameLength} of the characters RFC 9110 allows in a token, letters, digits and ${tokenSymbols}, so no space, colon or other separator`,
      );
    }
    if (reservedHeaders.test(name)) {
      throw invalid(field, `the header '${name}' is set by delivery itself`);
    }
    if (value.length > maxHeaderValueLength) {
      throw invalid(field, `a header value is at most ${maxHeaderValueLength} characters`);
    }
    if (/[\r\n\0]/.test(value)) {
      throw invalid(field, 'a header value may not hold a line break (CR or LF) or NUL');
    }
    if (!headerValue.test(value)) {
      throw invalid(field, 'a header value holds printable ASCII characters, spaces and tabs only');
    }
  }
}

const maxHeaders = 20;
const maxHeaderNameLength = 100;
const maxHeaderValueLength = 1024;
const tokenSymbols = "!#$%&'*+-.^_`|~";
/** RFC 9110 section 5.6.2: token = 1*tchar. */
const headerName = new RegExp(`^[!#$%&'*+.^_\`|~0-9A-Za-z-]{1,${maxHeaderNameLength}}$`);

/** RFC 9110 section 5.5's field-vchar, SP and HTAB, without obs-text (see above). */
const headerValue = /^[\t\x20-\x7e]*$/;

/** `target.headers.x-api-key`, or `target.headers["bad header"]` for a name that is no token. */
const headerField = (name: string) =>
  headerName.test(name) ? `target.headers.${name}` : `target.headers[${JSON.stringify(name)}]`;

async function startOffsets(
  deps: SubscriptionDeps,
  topic: Topic,
  request: CreateSubscriptionRequest,
): Promise<StartOffsets> {
  if (request.startingPosition === 'TRIM_HORIZON') return { kind: 'earliest' };
  const partitions = Array.from({ length: topic.partitions }, (_, p) => p);
  if (request.startingPosition === 'LATEST') {
    const states = await readPartitionStates(deps.ctx, topic, partitions);
    return { offsets: states.map((s) => s.highWatermark) };
  }
  const timestamp = request.startingPositionTimestamp ?? 0;
  const offsets = await Promise.all(
    partitions.map(async (p) => {
      const found = await listOffset(deps, topic.name, p, { kind: 'timestamp', timestamp });
      if (found.offset !== null) return found.offset;
      return (await listOffset(deps, topic.name, p, { kind: 'latest' })).offset ?? 0;
    }),
  );
  return { offsets };
}

function summary(sub: Subscription): SubscriptionSummary {
  return {
    name: sub.name,
    topic: sub.topic,
    id: sub.id,
    target:
      sub.target.type === 'lambda'
        ? sub.target
        : {
            type: 'http',
            url: sub.target.url,
            // Header values may be credentials: their names only.
            headers: Object.fromEntries(Object.keys(sub.target.headers).map((n) => [n, '****'])),
          },
    enabled: sub.enabled,
    createdAt: sub.createdAt,
  };
}

const withSecret = (
  description: SubscriptionDescription,
  sub: Pick<Subscription, 'secret'>,
): SubscriptionDescription => (sub.secret ? { ...description, secret: sub.secret } : description);

/** 192 random bits, prefixed so a leaked one is recognisable for what it is. */
const newSecret = (): string => `whsec_${randomBytes(24).toString('base64url')}`;

const alreadyExists = (topic: string, name: string) =>
  new TributaryError(
    'SUBSCRIPTION_ALREADY_EXISTS',
    `Topic '${topic}' already has a subscription '${name}'.`,
    { topic, subscription: name },
  );

const invalid = (field: string, message: string) =>
  new TributaryError('INVALID_SUBSCRIPTION', `${field}: ${message}.`, { field });
