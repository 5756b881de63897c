import { bodyOf } from './answers.ts';
import { invalidArgument, TributaryError } from './errors.ts';
import type { OffsetCommit, TopicPartitions } from './groups.ts';
import { type HttpClient, segment, sleep } from './http.ts';
import { positiveInteger, refuseUnknown } from './options.ts';
import {
  type ConsumedRecord,
  decodeRecord,
  type ReadFormat,
  readFormat,
  type WireFetchedRecord,
  wireFormatFor,
} from './records.ts';
import { backoffDelay, defaultRetryPolicy } from './retry.ts';

/**
 * @example
 * const consumer = tributary.consumer({
 *   group: 'billing',
 *   topics: ['orders'],
 *   autoOffsetReset: 'earliest',
 *   autoCommit: true,
 *   onAssign: (partitions) => console.log('assigned', partitions),
 *   onRevoke: (partitions) => console.log('revoked', partitions),
 *   onError: (error) => console.warn(error),
 * });
 */
export interface ConsumerOptions<F extends ReadFormat = 'json'> {
  /** The group's name: 1-249 of [a-zA-Z0-9._-]. */
  readonly group: string;
  /** The topics to consume; the server shares their partitions among the group's members. */
  readonly topics: readonly string[];
  /** How records are read: `'json'` (default), `'text'` or `'binary'`. */
  readonly format?: F;
  /**
   * Commit after each batch is processed — when the loop asks for the next batch, or
   * `eachBatch` resolves — and on `close()`. Default false: call `commit()`.
   */
  readonly autoCommit?: boolean;
  /** Where to start on a partition the group never committed: `'latest'` (default) or `'earliest'`. */
  readonly autoOffsetReset?: 'earliest' | 'latest';
  /** A member not heard from for this long is removed. Default 45,000 ms (1,000 to 1,800,000). */
  readonly sessionTimeoutMs?: number;
  /** How often to heartbeat, in the background. Default a third of `sessionTimeoutMs`. */
  readonly heartbeatIntervalMs?: number;
  /**
   * Static membership: a member that joins with the instanceId of a live one takes its
   * place and partitions without a rebalance. Default: a random id per consumer, so a join
   * whose answer was lost and is sent again replaces the member the first attempt made
   * rather than leaving it to hold partitions until its session lapses. 1-249 characters
   * of [a-zA-Z0-9._-], as Kafka's group.instance.id.
   */
  readonly instanceId?: string;
  /** Records per poll: default 500, at most 10,000. */
  readonly maxRecords?: number;
  /** Bytes per poll: default 1 MiB, at most 3 MiB. */
  readonly maxBytes?: number;
  /** How long a poll waits for records (a long poll): default 5,000 ms, at most 20,000. */
  readonly maxWaitMs?: number;
  /**
   * Called with partitions this member now owns: after joining, and when a heartbeat or
   * poll shows a new assignment. Awaited before the next batch is handed out.
   */
  readonly onAssign?: (partitions: TopicPartitions[]) => void | Promise<void>;
  /**
   * Called with partitions this member no longer owns. The server has already moved them,
   * so their offsets can no longer be committed; records of them in hand may be delivered
   * again to their new owner.
   */
  readonly onRevoke?: (partitions: TopicPartitions[]) => void | Promise<void>;
  /**
   * Called with errors the consumer recovers from by itself: a fenced auto-commit
   * (`ILLEGAL_GENERATION`, `PARTITION_NOT_ASSIGNED`, `STALE_COMMIT`, `UNKNOWN_MEMBER_ID`), a failed
   * heartbeat, a lost poll, a throwing rebalance callback. Default: ignored.
   */
  readonly onError?: (error: unknown) => void;
}

/**
 * The records of one poll, from the member's partitions, in order per partition.
 *
 * @example
 * await consumer.run({ eachBatch: ({ records, generation }) => console.log(records.length, generation) });
 */
export interface ConsumerBatch<F extends ReadFormat = 'json'> {
  readonly records: ConsumedRecord<F>[];
  readonly memberId: string;
  /** The group generation the records were polled in. */
  readonly generation: number;
}

/**
 * A consumer group member: joins on first use, heartbeats in the background, polls, and
 * commits what was processed. Delivery is at least once: records processed but not
 * committed before a rebalance are delivered again to their partition's new owner.
 *
 * @example
 * const consumer = tributary.consumer({ group: 'billing', topics: ['orders'], autoCommit: true });
 * await consumer.run({
 *   eachBatch: async ({ records }) => {
 *     for (const record of records) await handle(record.value);
 *   },
 * });
 */
export interface Consumer<F extends ReadFormat = 'json'> extends AsyncIterable<ConsumerBatch<F>> {
  /** The member id, once joined. */
  readonly memberId: string | undefined;
  /** The group generation this member last saw. */
  readonly generation: number | undefined;
  /** The partitions this member owns, as it last heard. */
  readonly assignment: TopicPartitions[];
  /**
   * Polls and hands each non-empty batch to `eachBatch` until `close()` is called, then
   * resolves. A throwing `eachBatch` closes the consumer without committing its batch, and
   * `run` rejects with the error.
   *
   * @example
   * const done = consumer.run({ eachBatch: ({ records }) => console.log(records.length) });
   * process.on('SIGTERM', () => void consumer.close());
   * await done;
   */
  run(handler: {
    readonly eachBatch: (batch: ConsumerBatch<F>) => void | Promise<void>;
  }): Promise<void>;
  /**
   * Commits and resolves when the commit is durable. Without arguments: the offsets after
   * every record handed out so far, on partitions still owned (in a loop body, that includes
   * the batch in hand). A fenced commit (`ILLEGAL_GENERATION`, `PARTITION_NOT_ASSIGNED`,
   * `STALE_COMMIT`, `UNKNOWN_MEMBER_ID`) rejects after the consumer has learnt its new assignment (rebalance
   * callbacks run), so a retry commits what it still owns.
   *
   * @example
   * for await (const batch of consumer) {
   *   await save(batch.records);
   *   await consumer.commit();
   * }
   */
  commit(offsets?: readonly OffsetCommit[]): Promise<void>;
  /**
   * `commit()` without waiting; the callback (else `onError`) hears of a failure.
   *
   * @example
   * consumer.commitAsync((error) => {
   *   if (error) console.warn('commit failed; records may be redelivered', error);
   * });
   */
  commitAsync(callback?: (error: unknown) => void): void;
  /**
   * Stops polling and heartbeating, commits processed batches (with autoCommit), calls
   * `onRevoke` for every partition owned, and leaves the group so its partitions move at
   * once. The batch being processed is not committed: `await consumer.commit()` first to
   * include it. Leaving a `for await` loop closes the consumer too.
   *
   * @example
   * process.on('SIGTERM', () => void consumer.close());
   */
  close(): Promise<void>;
  /** For `producer.transaction()`'s `sendOffsets`: not for applications. */
  readonly [transactionSupport]: TransactionSupport;
}

/** What a producer's transaction asks of the consumer whose offsets it commits. */
export const transactionSupport = Symbol('tributary.transactionSupport');

export interface TransactionSupport {
  /** The member, and its offsets to commit: the ones given, else those after every record handed out. */
  offsets(topics?: readonly TopicOffsets[]): Promise<{
    group: string;
    memberId: string;
    generation: number;
    offsets: WireOffsetCommit[];
  }>;
  /** These offsets were committed by a transaction. */
  committed(offsets: readonly OffsetCommit[]): void;
  /** The transaction was dropped: read again from the committed offsets. */
  rewind(): void;
}

interface TopicOffsets {
  readonly topic: string;
  readonly partitions: readonly { partition: number; offset: number; metadata?: string }[];
}

/** An assignment as the server sends it: `ownedSince[i]` belongs to `partitions[i]`. */
interface OwnedPartitions extends TopicPartitions {
  readonly ownedSince: readonly number[];
}

interface MemberView {
  readonly memberId: string;
  readonly generation: number;
  readonly assignment: OwnedPartitions[];
}

interface PollView extends MemberView {
  readonly records: (WireFetchedRecord & { readonly topic: string; readonly partition: number })[];
  readonly cursor: string;
}

const knownOptions = [
  'group',
  'topics',
  'format',
  'autoCommit',
  'autoOffsetReset',
  'sessionTimeoutMs',
  'heartbeatIntervalMs',
  'instanceId',
  'maxRecords',
  'maxBytes',
  'maxWaitMs',
  'onAssign',
  'onRevoke',
  'onError',
];
/** The server takes at most 98 offsets per commit (one DynamoDB transaction). */
const maxOffsetsPerCommit = 98;
const fenced = [
  'ILLEGAL_GENERATION',
  'PARTITION_NOT_ASSIGNED',
  'UNKNOWN_MEMBER_ID',
  'STALE_COMMIT',
];

/** An offset as a commit sends it: with the ownership it was read under, when known. */
interface WireOffsetCommit extends OffsetCommit {
  readonly ownedSince?: number;
}

/** `topic` and `partition` as one map key; topic names cannot hold a NUL. */
const tp = (topic: string, partition: number) => `${topic}\u0000${partition}`;
const untp = (key: string) => {
  const at = key.lastIndexOf('\u0000');
  return { topic: key.slice(0, at), partition: Number(key.slice(at + 1)) };
};
const keysOf = (assignment: readonly TopicPartitions[]) =>
  assignment.flatMap(({ topic, partitions }) => partitions.map((p) => tp(topic, p)));

/** Each owned partition's key → the generation since which it has been owned. */
const ownership = (assignment: readonly OwnedPartitions[]) =>
  new Map(
    assignment.flatMap(({ topic, partitions, ownedSince }) =>
      partitions.map((p, i): [string, number] => [tp(topic, p), ownedSince[i] ?? 0]),
    ),
  );

function grouped(keys: Iterable<string>): TopicPartitions[] {
  const byTopic = new Map<string, number[]>();
  for (const key of keys) {
    const { topic, partition } = untp(key);
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
  }
  return [...byTopic].map(([topic, partitions]) => ({
    topic,
    partitions: partitions.sort((a, b) => a - b),
  }));
}

/**
 * The group member behind `tributary.consumer()`.
 *
 * Each poll sends the cursor of the last answer received, and the server continues from
 * there; a poll whose answer is lost is simply sent again with the same cursor and gets
 * the same records. Offsets are kept per partition only while the server reports the
 * partition owned since the same generation, so offsets read before a partition was lost
 * and regained are dropped, never committed.
 */
export class GroupConsumer<F extends ReadFormat> implements Consumer<F> {
  readonly #http: HttpClient;
  readonly #group: string;
  readonly #topics: readonly string[];
  readonly #format: ReadFormat;
  readonly #autoCommit: boolean;
  readonly #autoOffsetReset: 'earliest' | 'latest';
  readonly #sessionTimeoutMs: number;
  readonly #heartbeatIntervalMs: number;
  readonly #instanceId: string;
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  readonly #maxWaitMs: number;
  readonly #onAssign: ConsumerOptions<F>['onAssign'];
  readonly #onRevoke: ConsumerOptions<F>['onRevoke'];
  readonly #onError: ConsumerOptions<F>['onError'];

  #member: MemberView | undefined;
  /** The cursor of the last poll answer received; polls continue from it. */
  #cursor: string | undefined;
  #joining: Promise<MemberView> | undefined;
  #beating: Promise<void> | undefined;
  #heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  /** The generation since which each owned partition has been owned without interruption. */
  readonly #ownedSince = new Map<string, number>();
  /** Per partition, the offset after the last record handed out / processed / committed. */
  readonly #delivered = new Map<string, number>();
  readonly #processed = new Map<string, number>();
  readonly #committed = new Map<string, number>();
  /**
   * For a transaction's offsets: per partition, the offset after the last record handed out
   * and the ownership it was read under, kept even if the partition is lost meanwhile (the
   * server then refuses the transaction, so its records are never written).
   */
  readonly #uncommitted = new Map<string, { offset: number; ownedSince: number }>();
  /** The generation of the last poll that handed out records. */
  #polledGeneration: number | undefined;
  /** Rebalance callbacks run one after another, in the order the changes were seen. */
  #callbacks: Promise<void> = Promise.resolve();
  /** Fired by close(): stops the poll and the heartbeat in flight. */
  readonly #stopping = new AbortController();
  #closing: Promise<void> | undefined;
  /** Set once close() has left the group; commits are refused from then on. */
  #left = false;
  #iterating = false;
  /** Polls failed in a row, for the backoff before the next. */
  #pollFailures = 0;

  constructor(http: HttpClient, options: ConsumerOptions<F>) {
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('Consumer options must be an object: { group, topics }.');
    }
    refuseUnknown(options, knownOptions, 'consumer option');
    if (typeof options.group !== 'string' || options.group === '') {
      throw invalidArgument("Consumer option 'group' is required: the group's name.", 'group');
    }
    if (
      !Array.isArray(options.topics) ||
      options.topics.length === 0 ||
      !options.topics.every((t) => typeof t === 'string' && t !== '')
    ) {
      throw invalidArgument(
        "Consumer option 'topics' must be a non-empty list of topic names.",
        'topics',
      );
    }
    const reset = options.autoOffsetReset ?? 'latest';
    if (reset !== 'earliest' && reset !== 'latest') {
      throw invalidArgument("autoOffsetReset must be 'earliest' or 'latest'.", 'autoOffsetReset');
    }
    for (const name of ['onAssign', 'onRevoke', 'onError'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'function') {
        throw invalidArgument(`Consumer option '${name}' must be a function.`, name);
      }
    }
    this.#http = http;
    this.#group = options.group;
    this.#topics = [...options.topics];
    this.#format = readFormat(options.format);
    this.#autoCommit = options.autoCommit ?? false;
    this.#autoOffsetReset = reset;
    this.#sessionTimeoutMs =
      options.sessionTimeoutMs === undefined
        ? 45_000
        : positiveInteger(options.sessionTimeoutMs, 'sessionTimeoutMs', 1_000, 1_800_000);
    this.#heartbeatIntervalMs =
      options.heartbeatIntervalMs === undefined
        ? Math.floor(this.#sessionTimeoutMs / 3)
        : positiveInteger(
            options.heartbeatIntervalMs,
            'heartbeatIntervalMs',
            10,
            this.#sessionTimeoutMs - 1,
          );
    if (
      options.instanceId !== undefined &&
      (typeof options.instanceId !== 'string' ||
        !/^[a-zA-Z0-9._-]{1,249}$/.test(options.instanceId))
    ) {
      throw invalidArgument('instanceId must be 1-249 characters of [a-zA-Z0-9._-].', 'instanceId');
    }
    this.#instanceId = options.instanceId ?? `tributary-sdk-${crypto.randomUUID()}`;
    this.#maxRecords =
      options.maxRecords === undefined
        ? 500
        : positiveInteger(options.maxRecords, 'maxRecords', 1, 10_000);
    this.#maxBytes =
      options.maxBytes === undefined
        ? 1024 * 1024
        : positiveInteger(options.maxBytes, 'maxBytes', 1, 3 * 1024 * 1024);
    this.#maxWaitMs =
      options.maxWaitMs === undefined
        ? 5_000
        : positiveInteger(options.maxWaitMs, 'maxWaitMs', 0, 20_000);
    this.#onAssign = options.onAssign;
    this.#onRevoke = options.onRevoke;
    this.#onError = options.onError;
  }

  get memberId(): string | undefined {
    return this.#member?.memberId;
  }

  get generation(): number | undefined {
    return this.#member?.generation;
  }

  get assignment(): TopicPartitions[] {
    return (this.#member?.assignment ?? []).map((a) => ({
      topic: a.topic,
      partitions: [...a.partitions],
    }));
  }

  get #closed(): boolean {
    return this.#closing !== undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<ConsumerBatch<F>> {
    return this.#batches();
  }

  async *#batches(): AsyncGenerator<ConsumerBatch<F>, void, undefined> {
    // A loop on a consumer already closed (by an earlier loop left, by close()) would end at
    // once and look like a run that found nothing; a close during the loop ends it quietly.
    if (this.#closed) throw closed();
    if (this.#iterating) {
      throw invalidArgument(
        'This consumer is already being iterated: one loop (or run) at a time.',
      );
    }
    this.#iterating = true;
    try {
      while (!this.#closed) {
        if (this.#autoCommit) await this.#commitFrom(this.#processed).catch(this.#report);
        const polled = await this.#poll();
        if (polled === undefined) break;
        const { batch, ownedSince } = polled;
        // onAssign runs before records of the partitions it announces are handed out.
        await this.#callbacks;
        if (batch.records.length === 0) continue;
        this.#advance(this.#delivered, batch, ownedSince);
        this.#polledGeneration = batch.generation;
        for (const record of batch.records) {
          const key = tp(record.topic, record.partition);
          const since = ownedSince.get(key);
          if (since === undefined) continue;
          const offset = Math.max(this.#uncommitted.get(key)?.offset ?? 0, record.offset + 1);
          this.#uncommitted.set(key, { offset, ownedSince: since });
        }
        yield batch;
        this.#advance(this.#processed, batch, ownedSince);
      }
    } finally {
      this.#iterating = false;
      await this.close();
    }
  }

  async run(handler: {
    readonly eachBatch: (batch: ConsumerBatch<F>) => void | Promise<void>;
  }): Promise<void> {
    if (typeof handler?.eachBatch !== 'function') {
      throw invalidArgument('run needs { eachBatch: async (batch) => { ... } }.', 'eachBatch');
    }
    for await (const batch of this) await handler.eachBatch(batch);
  }

  async commit(offsets?: readonly OffsetCommit[]): Promise<void> {
    if (this.#left) throw closed();
    if (offsets === undefined) return this.#commitFrom(this.#delivered);
    const member = this.#member ?? (await this.#ensureJoined());
    await this.#send(member, offsets);
  }

  commitAsync(callback?: (error: unknown) => void): void {
    this.commit().then(
      () => callback?.(undefined),
      (error: unknown) => (callback ?? this.#report)(error),
    );
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  readonly [transactionSupport]: TransactionSupport = {
    offsets: async (topics) => {
      if (this.#left) throw closed();
      const member = this.#member ?? (await this.#ensureJoined());
      const offsets: WireOffsetCommit[] = [];
      if (topics) {
        for (const { topic, partitions } of topics) {
          for (const { partition, offset, metadata } of partitions) {
            const ownedSince = this.#ownedSince.get(tp(topic, partition));
            offsets.push({
              topic,
              partition,
              offset,
              ...(metadata !== undefined && { metadata }),
              ...(ownedSince !== undefined && { ownedSince }),
            });
          }
        }
      } else {
        // Fenced by the generation the records were polled in: a rebalance since refuses
        // the transaction, rather than letting its records out without their offsets.
        for (const [key, { offset, ownedSince }] of this.#uncommitted) {
          if (this.#committed.get(key) !== offset)
            offsets.push({ ...untp(key), offset, ownedSince });
        }
      }
      return {
        group: this.#group,
        memberId: member.memberId,
        generation: topics ? member.generation : (this.#polledGeneration ?? member.generation),
        offsets,
      };
    },
    committed: (offsets) => {
      for (const o of offsets) {
        const key = tp(o.topic, o.partition);
        this.#committed.set(key, o.offset);
        if ((this.#uncommitted.get(key)?.offset ?? 0) <= o.offset) this.#uncommitted.delete(key);
      }
    },
    rewind: () => {
      // Without a cursor the next poll starts at the group's committed offsets.
      this.#cursor = undefined;
      this.#delivered.clear();
      this.#processed.clear();
      this.#uncommitted.clear();
    },
  };

  async #shutdown(): Promise<void> {
    clearTimeout(this.#heartbeatTimer);
    this.#stopping.abort();
    await this.#joining?.catch(() => undefined);
    await this.#beating;
    const member = this.#member;
    if (member) {
      if (this.#autoCommit) await this.#commitFrom(this.#processed).catch(this.#report);
      // Still a member here, so onRevoke may commit what it owns, as in Kafka.
      const owned = keysOf(member.assignment);
      const revoke = this.#onRevoke;
      if (owned.length > 0 && revoke) this.#callback(() => revoke(grouped(owned)));
      await this.#callbacks;
      try {
        await this.#http.request({
          method: 'DELETE',
          path: this.#memberPath(member.memberId),
          idempotent: true,
        });
      } catch (error: unknown) {
        // Already gone (its session lapsed): leaving is done.
        if (!TributaryError.is(error, 'UNKNOWN_MEMBER_ID')) this.#report(error);
      }
    }
    this.#left = true;
    this.#member = undefined;
    this.#cursor = undefined;
    for (const map of [this.#ownedSince, this.#delivered, this.#processed, this.#committed]) {
      map.clear();
    }
    this.#uncommitted.clear();
  }

  readonly #report = (error: unknown): void => {
    try {
      this.#onError?.(error);
    } catch {
      // An onError that throws has nowhere further to report to.
    }
  };

  #memberPath(memberId: string): string {
    return `/v1/groups/${segment(this.#group)}/members/${segment(memberId)}`;
  }

  async #ensureJoined(): Promise<MemberView> {
    if (this.#closed) throw closed();
    return this.#member ?? this.#join();
  }

  /**
   * Joins (or joins again, after the member was removed). With the same instanceId the
   * server replaces a live member in place, keeping its partitions and their ownedSince:
   * what was processed on them stays committable. Anything else counts as moved.
   */
  #join(): Promise<MemberView> {
    this.#joining ??= (async () => {
      const previous = this.#member;
      const answer = await this.#http.request({
        method: 'POST',
        path: `/v1/groups/${segment(this.#group)}/members`,
        body: {
          topics: this.#topics,
          sessionTimeoutMs: this.#sessionTimeoutMs,
          instanceId: this.#instanceId,
          autoOffsetReset: this.#autoOffsetReset,
        },
        // A resend with the same instanceId replaces the member the first attempt made.
        idempotent: true,
      });
      const view = bodyOf<MemberView>(answer);
      this.#member = view;
      // A new member id: the old one's cursors are gone with it.
      this.#cursor = undefined;
      this.#changeAssignment(previous?.assignment ?? [], view.assignment);
      this.#scheduleHeartbeat();
      return view;
    })().finally(() => {
      this.#joining = undefined;
    });
    return this.#joining;
  }

  /** Joins again unless someone already did since `memberId` failed. */
  async #rejoin(memberId: string): Promise<void> {
    if (this.#closed || this.#member?.memberId !== memberId) return;
    await this.#join();
  }

  #scheduleHeartbeat(): void {
    clearTimeout(this.#heartbeatTimer);
    if (this.#closed) return;
    this.#heartbeatTimer = setTimeout(() => void this.#heartbeat(), this.#heartbeatIntervalMs);
  }

  /** One heartbeat (shared by concurrent callers); learns the generation and assignment. */
  #heartbeat(): Promise<void> {
    this.#beating ??= (async () => {
      const member = this.#member;
      if (!member || this.#closed) return;
      try {
        const answer = await this.#http.request({
          method: 'POST',
          path: `${this.#memberPath(member.memberId)}/heartbeat`,
          idempotent: true,
          // close() does not wait for a heartbeat stuck on a slow network.
          signal: this.#stopping.signal,
        });
        this.#apply(member.memberId, bodyOf<MemberView>(answer));
      } catch (error: unknown) {
        if (this.#closed) return;
        this.#report(error);
        if (TributaryError.is(error, 'UNKNOWN_MEMBER_ID')) {
          await this.#rejoin(member.memberId).catch(this.#report);
        }
      }
    })().finally(() => {
      this.#beating = undefined;
      this.#scheduleHeartbeat();
    });
    return this.#beating;
  }

  /** Takes in a heartbeat's or poll's view of the member, if it is still current. */
  #apply(memberId: string, view: MemberView): void {
    const member = this.#member;
    if (!member || member.memberId !== memberId || view.memberId !== memberId) return;
    if (view.generation <= member.generation) return;
    this.#member = view;
    this.#changeAssignment(member.assignment, view.assignment);
  }

  /**
   * Moves from one assignment to the next. A partition no longer owned, or owned since a
   * later generation than before (lost and regained in between, perhaps unseen), forgets
   * its offsets and is announced to onRevoke; a new one, or one regained, to onAssign.
   */
  #changeAssignment(before: readonly OwnedPartitions[], after: readonly OwnedPartitions[]): void {
    const had = ownership(before);
    const has = ownership(after);
    const revoked = [...had].filter(([k, since]) => has.get(k) !== since).map(([k]) => k);
    const assigned = [...has].filter(([k, since]) => had.get(k) !== since).map(([k]) => k);
    for (const key of revoked) {
      this.#ownedSince.delete(key);
      this.#delivered.delete(key);
      this.#processed.delete(key);
      this.#committed.delete(key);
    }
    for (const key of assigned) this.#ownedSince.set(key, has.get(key) ?? 0);
    const revoke = this.#onRevoke;
    const assign = this.#onAssign;
    if (revoked.length > 0 && revoke) this.#callback(() => revoke(grouped(revoked)));
    if (assigned.length > 0 && assign) this.#callback(() => assign(grouped(assigned)));
  }

  #callback(run: () => void | Promise<void>): void {
    this.#callbacks = this.#callbacks.then(run).catch(this.#report);
  }

  /**
   * One poll, with the ownership its records were read under; undefined once closed. A
   * lost answer is polled again with the same cursor (see the class note).
   */
  async #poll(): Promise<
    { batch: ConsumerBatch<F>; ownedSince: ReadonlyMap<string, number> } | undefined
  > {
    let member: MemberView;
    try {
      member = await this.#ensureJoined();
    } catch (error: unknown) {
      if (this.#closed) return undefined;
      throw error;
    }
    let view: PollView;
    try {
      const answer = await this.#http.request({
        method: 'GET',
        path: `${this.#memberPath(member.memberId)}/records`,
        query: {
          maxRecords: this.#maxRecords,
          maxBytes: this.#maxBytes,
          waitMs: this.#maxWaitMs,
          format: wireFormatFor(this.#format),
          ...(this.#cursor !== undefined && { cursor: this.#cursor }),
        },
        idempotent: false,
        retry: false,
        signal: this.#stopping.signal,
        waitMs: this.#maxWaitMs,
      });
      view = bodyOf<PollView>(answer);
    } catch (error: unknown) {
      if (this.#closed) return undefined;
      const lost = TributaryError.is(error, 'UNKNOWN_MEMBER_ID');
      if (!lost && !(TributaryError.is(error) && error.retryable)) throw error;
      this.#report(error);
      this.#pollFailures++;
      try {
        await sleep(backoffDelay(defaultRetryPolicy, this.#pollFailures), this.#stopping.signal);
        // Gone from the group: join as a new member. A lost answer: poll again as before.
        if (lost) await this.#rejoin(member.memberId);
      } catch (failure: unknown) {
        if (this.#closed) return undefined;
        throw failure;
      }
      return { batch: this.#empty(), ownedSince: new Map() };
    }
    this.#pollFailures = 0;
    if (this.#member?.memberId === member.memberId) this.#cursor = view.cursor;
    this.#apply(member.memberId, view);
    return {
      batch: {
        records: view.records.map((r) => decodeRecord<F>(this.#format, r.topic, r.partition, r)),
        memberId: view.memberId,
        generation: view.generation,
      },
      ownedSince: ownership(view.assignment),
    };
  }

  #empty(): ConsumerBatch<F> {
    return {
      records: [],
      memberId: this.#member?.memberId ?? '',
      generation: this.generation ?? 0,
    };
  }

  /**
   * Notes, per partition, the offset after the batch's last record — only on partitions
   * still owned since the generation they were owned since when the batch was polled, so a
   * partition that moved away and back never gets an offset from before.
   */
  #advance(
    offsets: Map<string, number>,
    batch: ConsumerBatch<F>,
    ownedSince: ReadonlyMap<string, number>,
  ): void {
    for (const record of batch.records) {
      const key = tp(record.topic, record.partition);
      const since = this.#ownedSince.get(key);
      if (since === undefined || since !== ownedSince.get(key)) continue;
      offsets.set(key, Math.max(offsets.get(key) ?? 0, record.offset + 1));
    }
  }

  /** Commits `source`'s offsets on owned partitions that moved since the last commit. */
  async #commitFrom(source: Map<string, number>): Promise<void> {
    const member = this.#member;
    if (!member) return;
    const owned = new Set(keysOf(member.assignment));
    const offsets: WireOffsetCommit[] = [];
    for (const [key, offset] of source) {
      const ownedSince = this.#ownedSince.get(key);
      if (owned.has(key) && ownedSince !== undefined && this.#committed.get(key) !== offset) {
        // The server refuses it if the partition was lost since these records were read.
        offsets.push({ ...untp(key), offset, ownedSince });
      }
    }
    if (offsets.length > 0) await this.#send(member, offsets);
  }

  async #send(member: MemberView, offsets: readonly WireOffsetCommit[]): Promise<void> {
    try {
      for (let i = 0; i < offsets.length; i += maxOffsetsPerCommit) {
        const slice = offsets.slice(i, i + maxOffsetsPerCommit);
        await this.#http.request({
          method: 'POST',
          path: `/v1/groups/${segment(this.#group)}/offsets`,
          body: { memberId: member.memberId, generation: member.generation, offsets: slice },
          idempotent: true,
        });
        for (const o of slice) {
          if (this.#member?.memberId === member.memberId) {
            this.#committed.set(tp(o.topic, o.partition), o.offset);
          }
        }
      }
    } catch (error: unknown) {
      if (TributaryError.is(error, ...fenced) && !this.#closed) {
        // Learn what changed before reporting, so a retry commits what is still owned.
        if (TributaryError.is(error, 'UNKNOWN_MEMBER_ID')) {
          await this.#rejoin(member.memberId).catch(this.#report);
        } else {
          await this.#heartbeat();
        }
        await this.#callbacks;
      }
      throw error;
    }
  }
}

const closed = () =>
  new TributaryError({ code: 'CLOSED', message: 'The consumer is closed: create a new one.' });
