import type { FetchResult, Tributary } from './client.ts';
import { invalidArgument } from './errors.ts';
import { aborted } from './http.ts';
import { positiveInteger, refuseUnknown } from './options.ts';
import { type ConsumedRecord, type ReadFormat, readFormat } from './records.ts';

/**
 * Where a reader starts: the log start, the end (only records produced from now on), an
 * offset, or the first record at or after a time (the end if there is none).
 *
 * @example
 * const from: ReadFrom = { timestamp: new Date('2026-01-01') };
 */
export type ReadFrom =
  | 'earliest'
  | 'latest'
  | { readonly offset: number }
  | { readonly timestamp: number | Date };

/**
 * @example
 * const reader = tributary.reader({
 *   topic: 'orders',
 *   partition: 0,
 *   from: { timestamp: Date.now() - 3_600_000 },
 *   format: 'binary',
 *   follow: true,
 * });
 */
export interface ReaderOptions<F extends ReadFormat = 'json'> {
  readonly topic: string;
  readonly partition: number;
  /** Default `'earliest'`. */
  readonly from?: ReadFrom;
  /** How records are read: `'json'` (default), `'text'` or `'binary'`. */
  readonly format?: F;
  /**
   * `false` (default): stop at the end of the log, as it is when reached. `true`: wait
   * for new records, like `tail -f`, until the loop is left or `signal` fires.
   */
  readonly follow?: boolean;
  /** Records per fetch: default 500, at most 10,000. */
  readonly maxRecords?: number;
  /** Bytes per fetch: default 1 MiB, at most 4 MiB. */
  readonly maxBytes?: number;
  /** With `follow`, how long each fetch waits at the end of the log: default 5,000 ms, at most 20,000. */
  readonly maxWaitMs?: number;
  /** Stops the reader; the loop then throws `ABORTED`. */
  readonly signal?: AbortSignal;
}

/**
 * One fetch's records, with the partition's bounds at that time.
 *
 * @example
 * for await (const batch of reader) console.log(batch.records.length, batch.highWatermark - batch.nextOffset);
 */
export type ReaderBatch<F extends ReadFormat = 'json'> = FetchResult<F>;

/**
 * Reads one partition in offset order, without a consumer group: iterate it for batches, or
 * `records()` for single records. Each iteration starts again from `from`.
 *
 * @example
 * const reader = tributary.reader({ topic: 'orders', partition: 0, from: { offset: 42 } });
 * for await (const record of reader.records()) console.log(record.offset, record.key, record.value);
 */
export interface PartitionReader<F extends ReadFormat = 'json'>
  extends AsyncIterable<ReaderBatch<F>> {
  /** The offset the reader will fetch next; undefined before it starts. */
  readonly position: number | undefined;
  /**
   * The same records one at a time.
   *
   * @example
   * for await (const record of tributary.reader({ topic: 'orders', partition: 0 }).records()) {
   *   console.log(record.value);
   * }
   */
  records(): AsyncIterable<ConsumedRecord<F>>;
}

const knownOptions = [
  'topic',
  'partition',
  'from',
  'format',
  'follow',
  'maxRecords',
  'maxBytes',
  'maxWaitMs',
  'signal',
];

export class Reader<F extends ReadFormat> implements PartitionReader<F> {
  readonly #tributary: Tributary;
  readonly #topic: string;
  readonly #partition: number;
  readonly #from: ReadFrom;
  readonly #format: ReadFormat;
  readonly #follow: boolean;
  readonly #maxRecords: number | undefined;
  readonly #maxBytes: number | undefined;
  readonly #maxWaitMs: number;
  readonly #signal: AbortSignal | undefined;
  #position: number | undefined;

  constructor(tributary: Tributary, options: ReaderOptions<F>) {
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('Reader options must be an object: { topic, partition }.');
    }
    refuseUnknown(options, knownOptions, 'reader option');
    if (typeof options.topic !== 'string' || options.topic === '') {
      throw invalidArgument("Reader option 'topic' is required.", 'topic');
    }
    this.#tributary = tributary;
    this.#topic = options.topic;
    this.#partition = positiveInteger(options.partition, 'partition', 0, 999);
    this.#from = checkFrom(options.from ?? 'earliest');
    this.#format = readFormat(options.format);
    this.#follow = options.follow ?? false;
    this.#maxRecords =
      options.maxRecords === undefined
        ? undefined
        : positiveInteger(options.maxRecords, 'maxRecords', 1, 10_000);
    this.#maxBytes =
      options.maxBytes === undefined
        ? undefined
        : positiveInteger(options.maxBytes, 'maxBytes', 1, 4 * 1024 * 1024);
    this.#maxWaitMs =
      options.maxWaitMs === undefined
        ? 5_000
        : positiveInteger(options.maxWaitMs, 'maxWaitMs', 0, 20_000);
    this.#signal = options.signal;
  }

  get position(): number | undefined {
    return this.#position;
  }

  [Symbol.asyncIterator](): AsyncIterator<ReaderBatch<F>> {
    return this.#batches();
  }

  async *records(): AsyncGenerator<ConsumedRecord<F>, void, undefined> {
    for await (const batch of this) yield* batch.records;
  }

  async *#batches(): AsyncGenerator<ReaderBatch<F>, void, undefined> {
    let offset = await this.#start();
    this.#position = offset;
    for (;;) {
      if (this.#signal?.aborted) throw aborted(this.#signal);
      const batch = await this.#tributary.fetch<F>({
        topic: this.#topic,
        partition: this.#partition,
        offset,
        // #format is options.format, checked: the F this reader was made for.
        format: this.#format as F,
        ...(this.#maxRecords !== undefined && { maxRecords: this.#maxRecords }),
        ...(this.#maxBytes !== undefined && { maxBytes: this.#maxBytes }),
        ...(this.#follow && { waitMs: this.#maxWaitMs }),
        ...(this.#signal && { signal: this.#signal }),
      });
      offset = batch.nextOffset;
      this.#position = offset;
      if (batch.records.length > 0) yield batch;
      if (!this.#follow && offset >= batch.highWatermark) return;
    }
  }

  async #start(): Promise<number> {
    const from = this.#from;
    if (typeof from === 'object' && 'offset' in from) return from.offset;
    const spec = from === 'earliest' || from === 'latest' ? from : { timestamp: from.timestamp };
    const found = await this.#tributary.topics.lookupOffset(this.#topic, this.#partition, spec);
    if (found.offset !== null) return found.offset;
    // No record at or after the time: start at the end.
    const end = await this.#tributary.topics.lookupOffset(this.#topic, this.#partition, 'latest');
    return end.offset ?? 0;
  }
}

function checkFrom(from: unknown): ReadFrom {
  if (from === 'earliest' || from === 'latest') return from;
  if (typeof from === 'object' && from !== null) {
    if ('offset' in from && Number.isSafeInteger(from.offset) && Number(from.offset) >= 0) {
      return { offset: Number(from.offset) };
    }
    if ('timestamp' in from) {
      const t = from.timestamp instanceof Date ? from.timestamp.getTime() : from.timestamp;
      if (typeof t === 'number' && Number.isSafeInteger(t) && t >= 0) return { timestamp: t };
    }
  }
  throw invalidArgument(
    `Reader option 'from' must be 'earliest', 'latest', { offset } or { timestamp }; got ${JSON.stringify(from)}.`,
    'from',
  );
}
