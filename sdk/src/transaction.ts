import type { ProducerIdentity, Tributary } from './client.ts';
import { type Consumer, transactionSupport } from './consumer.ts';
import { invalidArgument, TributaryError } from './errors.ts';
import type { SendRequest } from './producer.ts';
import { encodeRecords, type ProducerRecord, type ValueFormat } from './records.ts';

/**
 * Offsets to commit with a transaction: those of the records the consumer handed out so
 * far (by default), or the ones given, on partitions it still owns.
 *
 * @example
 * await transaction.sendOffsets({ consumer });
 * await transaction.sendOffsets({ consumer, topics: [{ topic: 'orders', partitions: [{ partition: 0, offset: 42 }] }] });
 */
export interface TransactionOffsets {
  /** A consumer of this client, whatever format it reads. */
  readonly consumer: Pick<Consumer, typeof transactionSupport>;
  readonly topics?: readonly {
    readonly topic: string;
    readonly partitions: readonly { partition: number; offset: number; metadata?: string }[];
  }[];
}

/**
 * Where each record of a committed transaction landed, and how many offsets moved.
 *
 * @example
 * const { offsets, committed } = await transaction.commit();
 */
export interface TransactionResult {
  readonly offsets: {
    readonly topic: string;
    readonly partition: number;
    readonly offset: number;
    readonly timestamp: number;
  }[];
  readonly committed: number;
}

/**
 * A transaction of a producer with a `transactionalId`, as kafkajs has it: `send` and
 * `sendOffsets` gather, `commit` writes all of it in one request — every record visible and
 * the group's offsets moved, or nothing. `abort` drops it, and the consumer goes back to
 * its last committed offsets so the records are read again.
 *
 * @example
 * const transaction = await producer.transaction();
 * await transaction.send({ topic: 'totals', records: [{ key: 'alice', value: 42 }] });
 * await transaction.sendOffsets({ consumer });
 * await transaction.commit();
 */
export interface Transaction {
  /**
   * Adds records to the transaction; nothing is sent before `commit`.
   *
   * @example
   * await transaction.send({ topic: 'totals', records: [{ key: 'alice', value: 42 }] });
   */
  send(request: SendRequest): Promise<void>;
  /**
   * Adds the consumer's offsets (see {@link TransactionOffsets}); one group per transaction.
   *
   * @example
   * await transaction.sendOffsets({ consumer });
   */
  sendOffsets(offsets: TransactionOffsets): Promise<void>;
  /**
   * Commits; retries resend the same request, which the server answers as the original.
   * A refusal (`ILLEGAL_GENERATION`, `STALE_COMMIT`, …) aborts the transaction: the consumer
   * is rewound to its committed offsets, and the error is thrown. `PRODUCER_FENCED` is fatal
   * to the producer.
   *
   * @example
   * const { offsets } = await transaction.commit();
   */
  commit(): Promise<TransactionResult>;
  /**
   * Drops what was gathered and rewinds the consumer to its committed offsets.
   *
   * @example
   * if (!valid) await transaction.abort();
   */
  abort(): Promise<void>;
  /**
   * Whether neither `commit` nor `abort` has been called.
   *
   * @example
   * if (transaction.isActive()) await transaction.abort();
   */
  isActive(): boolean;
}

/** What the producer lends a transaction: its identity and the numbering of its transactions. */
export interface TransactionHost {
  readonly tributary: Tributary;
  readonly format: ValueFormat;
  identity(): Promise<ProducerIdentity>;
  /** The number of the next transaction of `identity`. */
  sequence(identity: ProducerIdentity): number;
  /** The transaction numbered `sequence` landed. */
  committed(identity: ProducerIdentity, sequence: number): void;
  /**
   * Its outcome is unknown: take a new identity (a new epoch) at once, which fences an
   * attempt still in flight, before the consumer reads again.
   */
  lost(): Promise<void>;
  fatal(error: TributaryError): void;
  ended(): void;
}

const fatalCodes = ['PRODUCER_FENCED', 'UNKNOWN_PRODUCER_ID'];

export class OpenTransaction implements Transaction {
  readonly #host: TransactionHost;
  readonly #records: (ProducerRecord & { topic: string })[] = [];
  #consumer: TransactionOffsets['consumer'] | undefined;
  #topics: TransactionOffsets['topics'];
  #active = true;

  constructor(host: TransactionHost) {
    this.#host = host;
  }

  isActive(): boolean {
    return this.#active;
  }

  async send(request: SendRequest): Promise<void> {
    this.#assertActive();
    if (typeof request?.topic !== 'string' || request.topic === '') {
      throw invalidArgument('send needs a topic name.', 'topic');
    }
    encodeRecords(request.records, this.#host.format); // validates
    for (const record of request.records) this.#records.push({ ...record, topic: request.topic });
  }

  async sendOffsets(offsets: TransactionOffsets): Promise<void> {
    this.#assertActive();
    if (!offsets?.consumer || typeof offsets.consumer[transactionSupport]?.offsets !== 'function') {
      throw invalidArgument(
        'sendOffsets needs { consumer }: a consumer of this client.',
        'consumer',
      );
    }
    if (this.#consumer && this.#consumer !== offsets.consumer) {
      throw invalidArgument('A transaction commits the offsets of one consumer.', 'consumer');
    }
    this.#consumer = offsets.consumer;
    this.#topics = offsets.topics;
  }

  async commit(): Promise<TransactionResult> {
    this.#assertActive();
    this.#active = false;
    const host = this.#host;
    try {
      const identity = await host.identity();
      const sequence = host.sequence(identity);
      const support = this.#consumer?.[transactionSupport];
      const group = support ? await support.offsets(this.#topics) : undefined;
      if (this.#records.length === 0 && (!group || group.offsets.length === 0)) {
        return { offsets: [], committed: 0 };
      }
      const wire = encodeRecords(this.#records, host.format);
      let result: TransactionResult;
      try {
        result = await host.tributary.commitTransaction({
          producer: { id: identity.producerId, epoch: identity.producerEpoch, sequence },
          records: wire.records.map((r, i) => ({ ...r, topic: this.#records[i]?.topic ?? '' })),
          ...(group && group.offsets.length > 0 && { offsets: group }),
          format: wire.format,
        });
      } catch (error: unknown) {
        if (TributaryError.is(error, ...fatalCodes)) host.fatal(error as TributaryError);
        else if (!refused(error)) await host.lost().catch(() => undefined);
        support?.rewind();
        throw error;
      }
      host.committed(identity, sequence);
      if (group) support?.committed(group.offsets);
      return result;
    } finally {
      host.ended();
    }
  }

  async abort(): Promise<void> {
    this.#assertActive();
    this.#active = false;
    this.#consumer?.[transactionSupport].rewind();
    this.#host.ended();
  }

  #assertActive(): void {
    if (!this.#active) {
      throw new TributaryError({
        code: 'INVALID_ARGUMENT',
        message: 'This transaction is over (committed or aborted): start another.',
      });
    }
  }
}

/** A 4xx the retry policy does not retry: nothing of the transaction was written. */
const refused = (error: unknown) =>
  error instanceof TributaryError &&
  !error.retryable &&
  error.status !== undefined &&
  error.status >= 400 &&
  error.status < 500;
