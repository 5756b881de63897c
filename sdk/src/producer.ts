import type { ProduceRequest, ProducerIdentity, RecordMetadata, Tributary } from './client.ts';
import { invalidArgument, TributaryError } from './errors.ts';
import type { RetryDeadline } from './http.ts';
import { positiveInteger, refuseUnknown } from './options.ts';
import { partitionForKey } from './partitioner.ts';
import {
  encodeRecords,
  keyBytes,
  type ProducerRecord,
  type ValueFormat,
  validateRecords,
} from './records.ts';
import { partitionsInWords } from './topics.ts';
import { OpenTransaction, type Transaction } from './transaction.ts';

/**
 * @example
 * const producer = tributary.producer({ transactionalId: 'billing-1', lingerMs: 10, batchSize: 1000 });
 */
export interface ProducerOptions {
  /**
   * Idempotent (default): the producer takes an identity (`POST /v1/producers`) and numbers
   * its records per partition, so a resend of a request whose answer was lost is recognised
   * and writes nothing. `false` sends plain requests; a failure that leaves the outcome
   * unknown is then reported rather than resent.
   */
  readonly idempotent?: boolean;
  /**
   * A stable name for this producer across restarts. Starting a producer with it fences every
   * older instance (their sends fail with `PRODUCER_FENCED`). Implies idempotence.
   */
  readonly transactionalId?: string;
  /** How values that are not bytes are stored: `'json'` (default) or `'text'`. */
  readonly format?: ValueFormat;
  /**
   * How long a send waits for more sends to the same topic, to go with them in one request
   * (Kafka's `linger.ms`, whose default is 5 ms since Kafka 4.0). Default 5 ms: a loop of
   * sends that are not awaited one by one, or sends made concurrently, become one request
   * per topic instead of one each — a request is what AWS bills. `0` sends at once; sends
   * made while a request is in flight still go together in the next.
   */
  readonly lingerMs?: number;
  /**
   * Send as soon as this many records wait for a topic, without waiting out `lingerMs`.
   * Default 500, at most 50,000 (the most one produce request carries).
   */
  readonly batchSize?: number;
  /** How long a topic's partition count is trusted before it is read again. Default 300,000 ms. */
  readonly metadataMaxAgeMs?: number;
  /**
   * How long a send may take, from the call to its answer (Kafka's `delivery.timeout.ms`,
   * whose default is also 120,000 ms). Until then a produce request that fails with a
   * retryable error (throttling, a 5xx, a lost answer, a refused connection) is sent again,
   * the same request each time, with the client's backoff (`retry.initialDelayMs` doubling
   * up to `retry.maxDelayMs`, jittered), however many attempts that takes: the client's
   * `retry.maxAttempts` does not bound it, though `retry: false` still means one attempt.
   * When no retry can start before the deadline, the send fails with `DELIVERY_TIMEOUT`,
   * its `cause` the last failure. A non-retryable error fails the send at once.
   *
   * The trade-off: a longer timeout rides out a longer outage, and `flush()` and `close()`
   * wait as long for the sends in it. From 0 (one attempt, and the client's retries up to
   * the deadline are off) to 86,400,000 (a day).
   */
  readonly deliveryTimeoutMs?: number;
}

/**
 * What to send: records for one topic. One `send` is always part of one request (with the
 * sends to the same topic made within `lingerMs`), so its records are written all together
 * or not at all.
 *
 * @example
 * const request: SendRequest = { topic: 'orders', records: [{ key: 'alice', value: { total: 42 } }] };
 */
export interface SendRequest {
  readonly topic: string;
  readonly records: readonly ProducerRecord[];
}

/**
 * Sends records to topics. Records land on the partition Kafka's default partitioner would
 * choose (murmur2 of the key), or the one given; records without either share one partition
 * per request, moving round the partitions from request to request (Kafka's sticky
 * partitioner). Sends to a topic are written in the order they were made.
 *
 * @example
 * const producer = tributary.producer();
 * const acks = await producer.send({
 *   topic: 'orders',
 *   records: [
 *     { key: 'alice', value: { clicked: 'buy' }, headers: { trace: 'abc' } },
 *     { key: 'bob', value: new Uint8Array([0xca, 0xfe]) },
 *   ],
 * });
 * console.log(acks.map((a) => `${a.partition}@${a.offset}`));
 * await producer.close();
 */
export interface Producer {
  /**
   * Sends records, resolving with where each landed, in order. The send waits up to
   * `lingerMs` for others to the same topic and goes in one request with them; it still
   * resolves with its own records' offsets, and fails only with an error of its own: a
   * refusal of one record (`RECORD_TOO_LARGE`, `INVALID_RECORD`) fails the send that holds
   * it, and the others are sent again without it. Retryable failures are retried by
   * resending exactly the same request until `deliveryTimeoutMs` has passed since the send,
   * then the send fails with `DELIVERY_TIMEOUT`. `OUT_OF_ORDER_SEQUENCE` and
   * `PRODUCER_FENCED` are fatal: this send and every later one fail with that error.
   *
   * @example
   * const [ack] = await producer.send({ topic: 'orders', records: [{ key: 'alice', value: 42 }] });
   */
  send(request: SendRequest): Promise<RecordMetadata[]>;
  /**
   * Sends everything waiting and resolves when every send made before the call has settled:
   * a send still being retried settles by its `deliveryTimeoutMs` (the attempt in progress
   * then finishes, within the client's `timeoutMs`), so that is the longest a flush waits.
   *
   * @example
   * void producer.send({ topic: 'orders', records: [{ value: 1 }] });
   * await producer.flush();
   */
  flush(): Promise<void>;
  /**
   * Flushes, then refuses further sends (`CLOSED`). Like `flush()`, it waits for sends still
   * being retried — up to `deliveryTimeoutMs`, two minutes by default; a producer that must
   * close sooner takes a shorter `deliveryTimeoutMs`.
   *
   * @example
   * await producer.close();
   */
  close(): Promise<void>;
  /** The idempotent identity in use; undefined before the first send or when not idempotent. */
  readonly identity: ProducerIdentity | undefined;
  /**
   * Starts a transaction (needs a `transactionalId`): records and a consumer's offsets
   * committed together, exactly once. Sends made before it are flushed first; one
   * transaction at a time.
   *
   * @example
   * const transaction = await producer.transaction();
   * await transaction.send({ topic: 'totals', records: [{ key: 'alice', value: 42 }] });
   * await transaction.sendOffsets({ consumer });
   * await transaction.commit();
   */
  transaction(): Promise<Transaction>;
}

interface PendingSend {
  readonly topic: string;
  readonly records: readonly ProducerRecord[];
  readonly enqueuedAt: number;
  readonly resolve: (acks: RecordMetadata[]) => void;
  readonly reject: (error: unknown) => void;
}

/** One planned request: the sends it carries and the partition of each of their records. */
interface Plan {
  readonly sends: PendingSend[];
  readonly partitions: number[];
}

/** One produce request commits in one DynamoDB transaction: at most 32 partitions. */
const maxPartitionsPerRequest = 32;
/** Well under the 6 MB body limit, leaving room for JSON escaping and the envelope. */
const maxRequestBytes = 4_500_000;
const knownOptions = [
  'idempotent',
  'transactionalId',
  'format',
  'lingerMs',
  'batchSize',
  'metadataMaxAgeMs',
  'deliveryTimeoutMs',
];
/** Kafka's `delivery.timeout.ms` default. */
const defaultDeliveryTimeoutMs = 120_000;
/** How a producer sends one produce request, retrying until `retryUntil`. */
export type ProduceUntil = (
  request: ProduceRequest & { readonly acks?: 'all' },
  retryUntil: RetryDeadline,
) => Promise<RecordMetadata[]>;
/** Kafka's `linger.ms` default since Kafka 4.0. */
const defaultLingerMs = 5;
/** Failures the producer cannot recover from: its sequence numbering broke, or it was fenced. */
const fatalCodes = ['OUT_OF_ORDER_SEQUENCE', 'PRODUCER_FENCED'];
const utf8 = new TextEncoder();

/**
 * The producer: sends wait in a queue per topic for up to `lingerMs` (or until
 * `batchSize` records wait), then go together in one request; sequences per partition,
 * decided before each request is sent; one request in flight at a time, so the server sees
 * each partition's sequences in order.
 *
 * Why the partition is chosen here rather than by the server: an idempotent request names
 * the sequence of its first record *per partition*, so the producer must know where every
 * record goes. It reads the topic's partition count (cached, refreshed on
 * PARTITION_NOT_FOUND) and sends every record with an explicit partition.
 */
export class IdempotentProducer implements Producer {
  readonly #tributary: Tributary;
  readonly #idempotent: boolean;
  readonly #transactionalId: string | undefined;
  readonly #format: ValueFormat;
  readonly #lingerMs: number;
  readonly #batchSize: number;
  readonly #metadataMaxAgeMs: number;
  readonly #deliveryTimeoutMs: number;
  readonly #produce: ProduceUntil;

  /** Sends waiting, per topic, in the order they were made. */
  readonly #queues = new Map<string, PendingSend[]>();
  readonly #unsettled = new Set<Promise<unknown>>();
  readonly #topics = new Map<string, { topicId: string; count: number; readAt: number }>();
  /** The next sequence per `topic/partition`, for the current identity. */
  readonly #sequences = new Map<string, number>();
  #identity: ProducerIdentity | undefined;
  /** Set after a failure whose outcome is unknown: the next request takes a new identity. */
  #identityStale = true;
  #fatal: TributaryError | undefined;
  #working = false;
  #flushing = 0;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #sticky = Math.floor(Math.random() * 1_000_000);
  /** The next transaction's number, for the identity it was counted under. */
  #transactions: { identity: ProducerIdentity; next: number } | undefined;
  #inTransaction = false;

  constructor(tributary: Tributary, options: ProducerOptions, produce: ProduceUntil) {
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('Producer options must be an object.');
    }
    refuseUnknown(options, knownOptions, 'producer option');
    const { transactionalId, format = 'json' } = options;
    if (
      transactionalId !== undefined &&
      (typeof transactionalId !== 'string' || !/^[\x21-\x7e]{1,249}$/.test(transactionalId))
    ) {
      throw invalidArgument(
        'transactionalId must be 1-249 printable ASCII characters without spaces.',
        'transactionalId',
      );
    }
    if (options.idempotent === false && transactionalId !== undefined) {
      throw invalidArgument('A transactionalId needs an idempotent producer.', 'idempotent');
    }
    if (format !== 'json' && format !== 'text') {
      throw invalidArgument(`format must be 'json' or 'text', got '${String(format)}'.`, 'format');
    }
    this.#tributary = tributary;
    this.#idempotent = options.idempotent ?? true;
    this.#transactionalId = transactionalId;
    this.#format = format;
    this.#lingerMs =
      options.lingerMs === undefined
        ? defaultLingerMs
        : positiveInteger(options.lingerMs, 'lingerMs', 0, 60_000);
    this.#batchSize =
      options.batchSize === undefined
        ? 500
        : positiveInteger(options.batchSize, 'batchSize', 1, 50_000);
    this.#metadataMaxAgeMs =
      options.metadataMaxAgeMs === undefined
        ? 300_000
        : positiveInteger(options.metadataMaxAgeMs, 'metadataMaxAgeMs', 0, 86_400_000);
    this.#deliveryTimeoutMs =
      options.deliveryTimeoutMs === undefined
        ? defaultDeliveryTimeoutMs
        : positiveInteger(options.deliveryTimeoutMs, 'deliveryTimeoutMs', 0, 86_400_000);
    this.#produce = produce;
  }

  get identity(): ProducerIdentity | undefined {
    return this.#idempotent ? this.#identity : undefined;
  }

  send(request: SendRequest): Promise<RecordMetadata[]> {
    if (this.#closed) return Promise.reject(closed());
    if (this.#fatal) return Promise.reject(this.#fatal);
    try {
      if (typeof request?.topic !== 'string' || request.topic === '') {
        throw invalidArgument('send needs a topic name.', 'topic');
      }
      validateRecords(request.records, this.#format);
    } catch (error: unknown) {
      return Promise.reject(error);
    }
    const promise = new Promise<RecordMetadata[]>((resolve, reject) => {
      const queue = this.#queues.get(request.topic) ?? [];
      this.#queues.set(request.topic, queue);
      queue.push({
        topic: request.topic,
        records: [...request.records],
        enqueuedAt: Date.now(),
        resolve,
        reject,
      });
    });
    const settled = promise.then(
      () => undefined,
      () => undefined,
    );
    this.#unsettled.add(settled);
    void settled.then(() => this.#unsettled.delete(settled));
    this.#wake(false);
    return promise;
  }

  async flush(): Promise<void> {
    const waiting = [...this.#unsettled];
    this.#flushing++;
    try {
      this.#wake(true);
      await Promise.all(waiting);
    } finally {
      this.#flushing--;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return this.flush();
    this.#closed = true;
    await this.flush();
    clearTimeout(this.#timer);
  }

  /**
   * Starts the worker if there is due work, else arms the linger timer. A send wakes it
   * with `byAge` false: waiting out `lingerMs` is left to the timer and to the worker
   * between requests, which never run in the middle of the caller's code, so a loop of
   * sends is not cut in two however long it takes. Only a full batch, a flush or
   * `lingerMs` 0 make a send go at once.
   */
  #wake(byAge: boolean): void {
    if (this.#working) return;
    const topic = this.#dueTopic(byAge);
    if (topic === undefined) {
      this.#armTimer();
      return;
    }
    this.#working = true;
    void this.#work(topic).finally(() => {
      this.#working = false;
      this.#wake(true);
    });
  }

  async #work(first: string): Promise<void> {
    for (let topic: string | undefined = first; topic !== undefined; topic = this.#dueTopic(true)) {
      const queue = this.#queues.get(topic) ?? [];
      // Waiting sends go together, up to batchSize records; #dispatch may hand some back.
      const sends: PendingSend[] = [];
      let records = 0;
      while (queue.length > 0) {
        const next = queue[0];
        if (!next) break;
        if (sends.length > 0 && records + next.records.length > this.#batchSize) break;
        sends.push(next);
        records += next.records.length;
        queue.shift();
      }
      if (queue.length === 0) this.#queues.delete(topic);
      const leftover = await this.#dispatch(topic, sends);
      if (leftover.length > 0) {
        const rest = this.#queues.get(topic) ?? [];
        this.#queues.set(topic, [...leftover, ...rest]);
      }
    }
  }

  /** The first topic whose sends should go now; by the age of its oldest send if `byAge`. */
  #dueTopic(byAge: boolean): string | undefined {
    const now = Date.now();
    for (const [topic, queue] of this.#queues) {
      const first = queue[0];
      if (!first) continue;
      if (this.#flushing > 0 || this.#closed || this.#lingerMs === 0) return topic;
      if (byAge && now - first.enqueuedAt >= this.#lingerMs) return topic;
      if (queue.reduce((n, s) => n + s.records.length, 0) >= this.#batchSize) return topic;
    }
    return undefined;
  }

  #armTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    let earliest = Number.POSITIVE_INFINITY;
    for (const queue of this.#queues.values()) {
      const first = queue[0];
      if (first) earliest = Math.min(earliest, first.enqueuedAt + this.#lingerMs);
    }
    if (earliest === Number.POSITIVE_INFINITY) return;
    this.#timer = setTimeout(() => this.#wake(true), Math.max(0, earliest - Date.now()));
  }

  /**
   * Sends one request for `sends` (or for as many of them as fit one request; the rest are
   * returned). Settles every send it carried.
   */
  async #dispatch(topic: string, sends: PendingSend[]): Promise<PendingSend[]> {
    let retriedPartitions = false;
    let retriedIdentity = false;
    let retriedSequence = false;
    for (;;) {
      if (this.#fatal) {
        for (const send of sends) send.reject(this.#fatal);
        return [];
      }
      let plan: Plan;
      let leftover: PendingSend[];
      try {
        ({ plan, leftover } = await this.#plan(topic, sends));
      } catch (error: unknown) {
        for (const send of sends) send.reject(error);
        return [];
      }
      if (plan.sends.length === 0) return leftover;
      try {
        const acks = await this.#send(topic, plan);
        let at = 0;
        for (const send of plan.sends) {
          send.resolve(acks.slice(at, at + send.records.length));
          at += send.records.length;
        }
        return leftover;
      } catch (error: unknown) {
        if (TributaryError.is(error, 'PARTITION_NOT_FOUND') && !retriedPartitions) {
          // The topic has fewer partitions than we knew (deleted and created again): the
          // request wrote nothing, so place the records again on fresh metadata.
          retriedPartitions = true;
          this.#topics.delete(topic);
          sends = [...plan.sends, ...leftover];
          continue;
        }
        if (TributaryError.is(error, 'OUT_OF_ORDER_SEQUENCE') && !retriedSequence) {
          // A topic deleted and created again under its name starts without this producer's
          // sequences: if that is why, nothing was written, and numbering starts again.
          retriedSequence = true;
          const before = this.#topics.get(topic)?.topicId;
          const after = await this.#readTopic(topic).catch(() => undefined);
          if (after && after.topicId !== before) {
            sends = [...plan.sends, ...leftover];
            continue;
          }
        }
        if (TributaryError.is(error, 'UNKNOWN_PRODUCER_ID') && !retriedIdentity) {
          // The producer's state expired (7 days idle): nothing was written; start again.
          retriedIdentity = true;
          this.#identityStale = true;
          sends = [...plan.sends, ...leftover];
          continue;
        }
        const culprit = plan.sends.length > 1 ? sendHolding(error, plan.sends) : undefined;
        if (culprit !== undefined) {
          // The server refused one record, so the request wrote nothing. The sends before
          // the one holding it go again together, that one alone (and fails with an error
          // of its own, its index counted within it), the rest back to the queue.
          const before = plan.sends.slice(0, culprit);
          const unsent = before.length > 0 ? await this.#dispatch(topic, before) : [];
          unsent.push(...(await this.#dispatch(topic, plan.sends.slice(culprit, culprit + 1))));
          return [...unsent, ...plan.sends.slice(culprit + 1), ...leftover];
        }
        if (TributaryError.is(error, ...fatalCodes)) {
          this.#fail(error);
        } else if (!refusedOutright(error)) {
          // The request may have been written. A new identity makes the next sends safe
          // without guessing: their sequences start again at 0.
          this.#identityStale = true;
        }
        for (const send of plan.sends) send.reject(error);
        return leftover;
      }
    }
  }

  /** Places every record on a partition and takes the sends that fit one request. */
  async #plan(
    topic: string,
    sends: PendingSend[],
  ): Promise<{ plan: Plan; leftover: PendingSend[] }> {
    let count = await this.#partitionCount(topic, false);
    const beyond = (send: PendingSend) =>
      send.records.some((r) => r.partition !== undefined && r.partition >= count);
    if (sends.some(beyond)) count = await this.#partitionCount(topic, true);
    const sticky = this.#sticky++ % count;
    const plan: Plan = { sends: [], partitions: [] };
    const touched = new Set<number>();
    let bytes = 0;
    for (const [i, send] of sends.entries()) {
      if (beyond(send)) {
        send.reject(
          invalidArgument(
            `A record names a partition the topic '${topic}' does not have: it has ${partitionsInWords(count)}.`,
            'partition',
          ),
        );
        continue;
      }
      const partitions = send.records.map((r) => {
        if (r.partition !== undefined) return r.partition;
        if (r.key !== undefined && r.key !== null) return partitionForKey(keyBytes(r.key), count);
        return sticky;
      });
      const union = new Set([...touched, ...partitions]);
      // A send alone is one request whatever its size: the server judges it.
      const size =
        sends.length > 1
          ? utf8.encode(JSON.stringify(encodeRecords(send.records, this.#format).records)).length
          : 0;
      if (
        plan.sends.length > 0 &&
        (union.size > maxPartitionsPerRequest || bytes + size > maxRequestBytes)
      ) {
        return { plan, leftover: sends.slice(i) };
      }
      for (const p of partitions) touched.add(p);
      bytes += size;
      plan.sends.push(send);
      plan.partitions.push(...partitions);
    }
    return { plan, leftover: [] };
  }

  async #send(topic: string, plan: Plan): Promise<RecordMetadata[]> {
    const records = plan.sends.flatMap((s) => s.records);
    // Every record carries its partition, so the server places it where its sequence says.
    const placed = records.map((r, i) => ({ ...r, partition: plan.partitions[i] ?? 0 }));
    const retryUntil = this.#deadline(plan);
    if (!this.#idempotent) {
      return this.#produce({ topic, records: placed, format: this.#format }, retryUntil);
    }
    const identity = await this.#currentIdentity();
    const counts = new Map<number, number>();
    for (const p of plan.partitions) counts.set(p, (counts.get(p) ?? 0) + 1);
    const first = new Map(
      [...counts.keys()].map((p) => [p, this.#sequences.get(`${topic}/${p}`) ?? 0]),
    );
    const [only] = first.values();
    const acks = await this.#produce(
      {
        topic,
        records: placed,
        format: this.#format,
        producer: {
          id: identity.producerId,
          epoch: identity.producerEpoch,
          sequence: first.size === 1 && only !== undefined ? only : Object.fromEntries(first),
        },
      },
      retryUntil,
    );
    if (this.#identity === identity) {
      for (const [p, n] of counts) this.#sequences.set(`${topic}/${p}`, (first.get(p) ?? 0) + n);
    }
    return acks;
  }

  /**
   * A request carries sends made at different times; it is retried until the oldest of them
   * has waited `deliveryTimeoutMs` (Kafka times a batch from its creation), so no send waits
   * longer than that for its answer, give or take the attempt in progress.
   */
  #deadline(plan: Plan): RetryDeadline {
    const oldest = plan.sends.reduce((at, s) => Math.min(at, s.enqueuedAt), Date.now());
    const deliveryTimeoutMs = this.#deliveryTimeoutMs;
    return {
      at: oldest + deliveryTimeoutMs,
      expired: (last, attempts) =>
        new TributaryError({
          code: 'DELIVERY_TIMEOUT',
          message: `The send was not acknowledged within deliveryTimeoutMs (${deliveryTimeoutMs} ms), after ${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}; the last failed with ${last.code}: ${last.message}`,
          details: {
            deliveryTimeoutMs,
            attempts,
            lastCode: last.code,
            ...(last.status !== undefined && { lastStatus: last.status }),
          },
          cause: last,
          ...(last.requestId !== undefined && { requestId: last.requestId }),
        }),
    };
  }

  async transaction(): Promise<Transaction> {
    if (this.#transactionalId === undefined) {
      throw invalidArgument(
        'transaction() needs a producer created with a transactionalId.',
        'transactionalId',
      );
    }
    if (this.#closed) throw closed();
    if (this.#fatal) throw this.#fatal;
    if (this.#inTransaction) {
      throw invalidArgument('A transaction is already open: commit or abort it first.');
    }
    this.#inTransaction = true;
    try {
      await this.flush();
    } catch (error: unknown) {
      this.#inTransaction = false;
      throw error;
    }
    return new OpenTransaction({
      tributary: this.#tributary,
      format: this.#format,
      identity: () => this.#currentIdentity(),
      sequence: (identity) =>
        this.#transactions?.identity === identity ? this.#transactions.next : 0,
      committed: (identity, sequence) => {
        if (this.#identity === identity) this.#transactions = { identity, next: sequence + 1 };
      },
      lost: async () => {
        this.#identityStale = true;
        await this.#currentIdentity();
      },
      fatal: (error) => this.#fail(error),
      ended: () => {
        this.#inTransaction = false;
      },
    });
  }

  async #currentIdentity(): Promise<ProducerIdentity> {
    if (this.#identity && !this.#identityStale) return this.#identity;
    const identity = await this.#tributary.initProducer(this.#transactionalId);
    this.#identity = identity;
    this.#identityStale = false;
    this.#sequences.clear();
    return identity;
  }

  async #partitionCount(topic: string, fresh: boolean): Promise<number> {
    const cached = this.#topics.get(topic);
    if (!fresh && cached && Date.now() - cached.readAt < this.#metadataMaxAgeMs)
      return cached.count;
    return (await this.#readTopic(topic)).count;
  }

  /**
   * Reads the topic's id and partition count. A new id means the topic was deleted and
   * created again: the server holds no sequences of this producer for it, so neither do we.
   */
  async #readTopic(topic: string): Promise<{ topicId: string; count: number }> {
    const { topicId, partitions } = await this.#tributary.topics.describe(topic);
    if (this.#topics.get(topic)?.topicId !== topicId) {
      for (const key of this.#sequences.keys()) {
        if (key.startsWith(`${topic}/`)) this.#sequences.delete(key);
      }
    }
    const read = { topicId, count: partitions.length, readAt: Date.now() };
    this.#topics.set(topic, read);
    return read;
  }

  /** A fatal error: every waiting send fails with it, and so does every later one. */
  #fail(error: TributaryError): void {
    this.#fatal = error;
    for (const queue of this.#queues.values()) for (const send of queue) send.reject(error);
    this.#queues.clear();
  }
}

/**
 * The index in `sends` of the send holding the record a refusal names (`details.index`,
 * counted over the request's records), when the server refused one record by its content.
 */
function sendHolding(error: unknown, sends: readonly PendingSend[]): number | undefined {
  if (!refusedOutright(error)) return undefined;
  const index = error.details.index;
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0) return undefined;
  let first = 0;
  for (const [i, send] of sends.entries()) {
    first += send.records.length;
    if (index < first) return i;
  }
  return undefined;
}

/**
 * Whether the server refused the request by its content, so no attempt of it was written:
 * a 4xx the retry policy does not retry. (An attempt that was written would have made the
 * server answer the resend as a replay, with its offsets.)
 */
function refusedOutright(error: unknown): error is TributaryError {
  return (
    error instanceof TributaryError &&
    !error.retryable &&
    error.status !== undefined &&
    error.status >= 400 &&
    error.status < 500
  );
}

const closed = () =>
  new TributaryError({ code: 'CLOSED', message: 'The producer is closed: create a new one.' });
