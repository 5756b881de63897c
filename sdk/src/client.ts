import { Acls, ApiKeys } from './access.ts';
import { bodyOf } from './answers.ts';
import { type Consumer, type ConsumerOptions, GroupConsumer } from './consumer.ts';
import { Groups, type OffsetCommit } from './groups.ts';
import { HttpClient, type RetryDeadline, segment } from './http.ts';
import { type Admin, Maintenance } from './maintenance.ts';
import { resolveOptions, type TributaryOptions } from './options.ts';
import { IdempotentProducer, type Producer, type ProducerOptions } from './producer.ts';
import { type PartitionReader, Reader, type ReaderOptions } from './reader.ts';
import {
  type ConsumedRecord,
  decodeRecord,
  encodeRecords,
  type ProducerRecord,
  type ReadFormat,
  readFormat,
  type ValueFormat,
  type WireFetchedRecord,
  type WireFormat,
  type WireRecord,
  wireFormatFor,
} from './records.ts';
import { Topics } from './topics.ts';
import type { TransactionResult } from './transaction.ts';

/**
 * Where a produced record landed.
 *
 * @example
 * const [{ partition, offset }] = await producer.send({ topic: 'orders', records: [{ value: 1 }] });
 */
export interface RecordMetadata {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** The timestamp the record was stored with (the server's time for LogAppendTime topics). */
  readonly timestamp: number;
}

/**
 * An idempotent producer's identity, from {@link Tributary.initProducer}.
 *
 * @example
 * const { producerId, producerEpoch } = await tributary.initProducer('billing-1');
 */
export interface ProducerIdentity {
  readonly producerId: number;
  readonly producerEpoch: number;
}

/**
 * One produce request, exactly as the REST API takes it.
 *
 * @example
 * const request: ProduceRequest = { topic: 'orders', records: [{ value: 1, partition: 0 }], expectedOffset: 7 };
 */
export interface ProduceRequest {
  readonly topic: string;
  /** Sent as one request: all are written, or none. */
  readonly records: readonly ProducerRecord[];
  /** How values that are not bytes are stored; default `'json'`. */
  readonly format?: ValueFormat;
  /**
   * `'all'` (default) answers after the commit, with offsets; `0` answers once the request
   * is validated, and the write completes asynchronously.
   */
  readonly acks?: 'all' | 0;
  /**
   * Idempotent produce: the producer's id, epoch and the sequence of the request's first
   * record on the partition (or one per partition, `{ 0: 12, 3: 4 }`). A retry of the same
   * request is then answered with the original offsets and writes nothing.
   */
  readonly producer?: {
    readonly id: number;
    readonly epoch: number;
    readonly sequence: number | Readonly<Record<number, number>>;
  };
  /** Commit only if the partition's next offset is this (one partition). */
  readonly expectedOffset?: number;
  /** The exclusive writer's leader epoch (one partition). */
  readonly leaderEpoch?: number;
  readonly signal?: AbortSignal;
}

/**
 * One transaction, exactly as the REST API takes it (docs/transactions.md).
 *
 * @example
 * const request: TransactionRequest = { producer: { id: 7, epoch: 0, sequence: 3 }, records: [{ topic: 'totals', value: 1 }] };
 */
export interface TransactionRequest {
  /** A producer initialised with a transactionalId; `sequence` numbers its transactions from 0 in each epoch. */
  readonly producer: { readonly id: number; readonly epoch: number; readonly sequence: number };
  readonly records: readonly (WireRecord & { readonly topic: string })[];
  readonly offsets?: {
    readonly group: string;
    readonly memberId?: string;
    readonly generation?: number;
    readonly offsets: readonly (OffsetCommit & { readonly ownedSince?: number })[];
  };
  /** How keys and values are written in `records`: `'json'` (default), `'text'` or `'base64'`. */
  readonly format?: WireFormat;
}

/**
 * One fetch from a partition.
 *
 * @example
 * const request: FetchRequest<'binary'> = { topic: 'orders', partition: 0, offset: 42, format: 'binary' };
 */
export interface FetchRequest<F extends ReadFormat = 'json'> {
  readonly topic: string;
  readonly partition: number;
  /** The first offset wanted. */
  readonly offset: number;
  readonly format?: F;
  /** Default 500, at most 10,000. */
  readonly maxRecords?: number;
  /** Default 1 MiB, at most 4 MiB; at least one record is always returned. */
  readonly maxBytes?: number;
  /** At the end of the log, wait up to this long (at most 20,000 ms) for records. */
  readonly waitMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Records of one fetch, and the partition's bounds.
 *
 * @example
 * const { records, nextOffset, highWatermark } = await tributary.fetch({ topic: 'orders', partition: 0, offset: 0 });
 */
export interface FetchResult<F extends ReadFormat = 'json'> {
  readonly records: ConsumedRecord<F>[];
  /** Fetch again from here. */
  readonly nextOffset: number;
  readonly highWatermark: number;
  readonly logStartOffset: number;
}

/**
 * A client of one Tributary API: administration (`topics`, `groups`, `keys`, `acls`), and
 * factories for producers, consumers and partition readers. It holds no connection and no
 * background work, so it needs no closing; producers and consumers do.
 *
 * @example
 * import { Tributary } from '@tributary/sdk';
 *
 * const tributary = new Tributary({ url: 'http://127.0.0.1:8080' });
 * await tributary.topics.create({ name: 'orders', partitions: 3 });
 * const producer = tributary.producer();
 * await producer.send({ topic: 'orders', records: [{ key: 'alice', value: { clicked: 'buy' } }] });
 * await producer.close();
 */
export class Tributary {
  /**
   * The API's base URL, normalised (no trailing slash).
   *
   * @example
   * new Tributary({ url: 'http://127.0.0.1:8080/' }).url; // 'http://127.0.0.1:8080'
   */
  readonly url: string;
  /**
   * Topic administration.
   *
   * @example
   * await tributary.topics.create({ name: 'orders', partitions: 3 });
   */
  readonly topics: Topics;
  /**
   * Consumer group administration.
   *
   * @example
   * const lag = await tributary.groups.offsets('billing');
   */
  readonly groups: Groups;
  /**
   * API keys.
   *
   * @example
   * const { key } = await tributary.keys.create('billing');
   */
  readonly keys: ApiKeys;
  /**
   * ACLs.
   *
   * @example
   * const acls = await tributary.acls.list({ principal: 'billing' });
   */
  readonly acls: Acls;
  /**
   * Administration: keys, ACLs and the maintenance workflow.
   *
   * @example
   * const { report } = await tributary.admin.maintenance.run({ wait: true });
   */
  readonly admin: Admin;
  readonly #http: HttpClient;

  /**
   * Checks the options and builds the client; no request is made until one is needed.
   * Throws a `TributaryError` with code `INVALID_ARGUMENT` for a bad option.
   *
   * @example
   * const tributary = new Tributary({
   *   url: process.env.TRIBUTARY_URL ?? 'http://127.0.0.1:8080',
   *   apiKey: process.env.TRIBUTARY_API_KEY,
   * });
   */
  constructor(options: TributaryOptions) {
    const resolved = resolveOptions(options);
    this.url = resolved.baseUrl;
    this.#http = new HttpClient(resolved);
    this.topics = new Topics(this.#http);
    this.groups = new Groups(this.#http);
    this.keys = new ApiKeys(this.#http);
    this.acls = new Acls(this.#http);
    this.admin = { keys: this.keys, acls: this.acls, maintenance: new Maintenance(this.#http) };
  }

  /**
   * Whether the API answers.
   *
   * @example
   * await tributary.health(); // { status: 'ok' }
   */
  async health(): Promise<{ status: 'ok' }> {
    return bodyOf(
      await this.#http.request({ method: 'GET', path: '/v1/health', idempotent: true }),
    );
  }

  /**
   * Creates a producer: idempotent by default, so its automatic retries never duplicate.
   *
   * @example
   * const producer = tributary.producer({ lingerMs: 5, batchSize: 500 });
   * const [metadata] = await producer.send({ topic: 'orders', records: [{ key: 'alice', value: 1 }] });
   * await producer.close();
   */
  producer(options: ProducerOptions = {}): Producer {
    // The producer's requests retry until its delivery timeout, which the public
    // `produce` cannot ask for: it gets the HTTP client's deadline behind this function.
    return new IdempotentProducer(this, options, (request, retryUntil) =>
      produceOver(this.#http, request, retryUntil),
    );
  }

  /**
   * Creates a consumer group member; it joins on first use.
   *
   * @example
   * const consumer = tributary.consumer({ group: 'reporting', topics: ['orders'], autoCommit: true });
   * for await (const batch of consumer) {
   *   for (const record of batch.records) console.log(record.value);
   * }
   */
  consumer<F extends ReadFormat = 'json'>(options: ConsumerOptions<F>): Consumer<F> {
    return new GroupConsumer(this.#http, options);
  }

  /**
   * Reads one partition from an offset, a time, the start or the end, without a group.
   *
   * @example
   * const reader = tributary.reader({ topic: 'orders', partition: 0, from: 'earliest' });
   * for await (const batch of reader) console.log(batch.records.length, batch.highWatermark);
   */
  reader<F extends ReadFormat = 'json'>(options: ReaderOptions<F>): PartitionReader<F> {
    return new Reader(this, options);
  }

  /**
   * Initialises an idempotent producer identity (`POST /v1/producers`). With a
   * transactionalId the id stays and the epoch rises, fencing older instances.
   * `tributary.producer()` does this for you.
   *
   * @example
   * const { producerId, producerEpoch } = await tributary.initProducer('billing-1');
   */
  async initProducer(transactionalId?: string): Promise<ProducerIdentity> {
    return bodyOf(
      await this.#http.request({
        method: 'POST',
        path: '/v1/producers',
        body: transactionalId === undefined ? {} : { transactionalId },
        // A resend is harmless: at worst an unused id, or an epoch raised twice.
        idempotent: true,
      }),
    );
  }

  /**
   * One transaction, as `POST /v1/transactions` takes it: records (already in wire form,
   * each with its topic) and a group's offsets, committed together or not at all. Most code
   * wants `producer.transaction()`, which numbers transactions and encodes records. Retries
   * resend the same request, which the server answers as the original.
   *
   * @example
   * const { offsets } = await tributary.commitTransaction({
   *   producer: { id: 7, epoch: 0, sequence: 0 },
   *   records: [{ topic: 'totals', key: 'alice', value: 42 }],
   * });
   */
  async commitTransaction(request: TransactionRequest): Promise<TransactionResult> {
    const { format, ...body } = request;
    return bodyOf(
      await this.#http.request({
        method: 'POST',
        path: '/v1/transactions',
        query: { format: format === undefined || format === 'json' ? undefined : format },
        body,
        idempotent: true,
      }),
    );
  }

  /**
   * One produce request, as the REST API takes it: all records are written or none. Most
   * code wants `tributary.producer()`, which adds idempotence, partitioning and batching.
   * Without `producer`, a failure that leaves the outcome unknown is not retried, since a
   * resend could write twice.
   *
   * @example
   * const [ack] = await tributary.produce({
   *   topic: 'payments',
   *   records: [{ value: 'first', partition: 1 }],
   *   expectedOffset: 0,
   * });
   */
  produce(request: ProduceRequest & { readonly acks: 0 }): Promise<{ accepted: number }>;
  produce(request: ProduceRequest): Promise<RecordMetadata[]>;
  async produce(request: ProduceRequest): Promise<RecordMetadata[] | { accepted: number }> {
    return produceOver(this.#http, request);
  }

  /**
   * One fetch from a partition. `tributary.reader()` iterates over many.
   *
   * @example
   * const { records, nextOffset } = await tributary.fetch({ topic: 'orders', partition: 0, offset: 0 });
   */
  async fetch<F extends ReadFormat = 'json'>(request: FetchRequest<F>): Promise<FetchResult<F>> {
    const format = readFormat(request.format);
    const answer = await this.#http.request({
      method: 'GET',
      path: `/v1/topics/${segment(request.topic)}/partitions/${segment(request.partition)}/records`,
      query: {
        offset: request.offset,
        maxRecords: request.maxRecords,
        maxBytes: request.maxBytes,
        waitMs: request.waitMs,
        format: wireFormatFor(format),
      },
      idempotent: true,
      signal: request.signal,
      waitMs: request.waitMs ?? 0,
    });
    const body = bodyOf<Omit<FetchResult, 'records'> & { records: WireFetchedRecord[] }>(answer);
    return {
      records: body.records.map((r) =>
        decodeRecord<F>(format, request.topic, request.partition, r),
      ),
      nextOffset: body.nextOffset,
      highWatermark: body.highWatermark,
      logStartOffset: body.logStartOffset,
    };
  }
}

/**
 * One produce request over `http`; with `retryUntil`, retryable failures are retried until
 * that deadline instead of the retry policy's `maxAttempts` times.
 */
export function produceOver(
  http: HttpClient,
  request: ProduceRequest & { readonly acks?: 'all' },
  retryUntil?: RetryDeadline,
): Promise<RecordMetadata[]>;
export function produceOver(
  http: HttpClient,
  request: ProduceRequest,
  retryUntil?: RetryDeadline,
): Promise<RecordMetadata[] | { accepted: number }>;
export async function produceOver(
  http: HttpClient,
  request: ProduceRequest,
  retryUntil?: RetryDeadline,
): Promise<RecordMetadata[] | { accepted: number }> {
  const { format, records } = encodeRecords(request.records, request.format ?? 'json');
  const body: Record<string, unknown> = { records };
  if (request.producer) body.producer = request.producer;
  if (request.leaderEpoch !== undefined) body.leaderEpoch = request.leaderEpoch;
  const answer = await http.request({
    method: 'POST',
    path: `/v1/topics/${segment(request.topic)}/records`,
    query: {
      format: format === 'json' ? undefined : format,
      acks: request.acks === 0 ? '0' : undefined,
      expectedOffset: request.expectedOffset,
    },
    body,
    idempotent: request.producer !== undefined,
    signal: request.signal,
    retryUntil,
  });
  if (request.acks === 0) return bodyOf<{ accepted: number }>(answer);
  const { offsets } = bodyOf<{ offsets: Omit<RecordMetadata, 'topic'>[] }>(answer);
  return offsets.map((o) => ({ topic: request.topic, ...o }));
}
