import { bodyOf } from './answers.ts';
import { invalidArgument } from './errors.ts';
import { type HttpClient, segment } from './http.ts';
import { Subscriptions } from './subscriptions.ts';

/**
 * A partition's bounds: records are at offsets [logStartOffset, highWatermark).
 *
 * @example
 * const held = (p: PartitionDescription) => p.highWatermark - p.logStartOffset;
 */
export interface PartitionDescription {
  readonly partition: number;
  /** The first offset still held, after retention. */
  readonly logStartOffset: number;
  /** The offset the next record will get. */
  readonly highWatermark: number;
  /** Raised each time a writer takes the partition (exclusive writers). */
  readonly leaderEpoch: number;
  /**
   * Bytes the partition stores (Kafka's log size): what was written, less what the
   * maintenance workflow freed — retention's deletes, compaction's and merge's rewrites.
   * Expired batches count until a maintenance pass deletes them.
   */
  readonly sizeBytes: number;
  /**
   * Compacted topics: compaction has cleaned (or is cleaning) the log below this offset,
   * Kafka's first dirty offset; from it on, every record written is there.
   */
  readonly cleanedUpTo?: number;
  /** Compacted topics: the share of the stored bytes not yet compacted, 0 to 1. */
  readonly dirtyRatio?: number;
}

/**
 * A topic, its partitions, and every config's effective value.
 *
 * @example
 * const { partitions, config } = await tributary.topics.describe('orders');
 * console.log(partitions.length, config['retention.ms']);
 */
export interface TopicDescription {
  readonly name: string;
  readonly topicId: string;
  readonly partitions: readonly PartitionDescription[];
  readonly config: Readonly<Record<string, string>>;
}

/**
 * A topic as `topics.list()` shows it.
 *
 * @example
 * const names = (await tributary.topics.list()).map((t: TopicSummary) => t.name);
 */
export interface TopicSummary {
  readonly name: string;
  readonly topicId: string;
  /** The partition count. */
  readonly partitions: number;
}

/**
 * Kafka's topic configs (values are strings, as in Kafka; numbers are accepted too).
 *
 * @example
 * const config: TopicConfig = { 'cleanup.policy': 'compact', 'retention.ms': 86_400_000 };
 */
export interface TopicConfig {
  readonly 'retention.ms'?: string | number;
  readonly 'retention.bytes'?: string | number;
  readonly 'cleanup.policy'?: 'delete' | 'compact' | 'compact,delete' | (string & {});
  readonly 'max.message.bytes'?: string | number;
  readonly 'message.timestamp.type'?: 'CreateTime' | 'LogAppendTime' | (string & {});
  readonly [name: string]: string | number | undefined;
}

/**
 * A config change: a value sets a config, `null` returns it to its default.
 *
 * @example
 * const patch: TopicConfigPatch = { 'retention.ms': '3600000', 'retention.bytes': null };
 */
export type TopicConfigPatch = { readonly [name: string]: string | number | null };

/**
 * A topic to create.
 *
 * @example
 * const topic: CreateTopic = { name: 'orders', partitions: 6, config: { 'retention.ms': '604800000' } };
 */
export interface CreateTopic {
  readonly name: string;
  /** 1 to 1,000; default 1. */
  readonly partitions?: number;
  readonly config?: TopicConfig;
}

/**
 * Where to look an offset up (Kafka's ListOffsets): the log start, the high watermark, the
 * first record at or after a time, or the first record of the greatest timestamp.
 *
 * @example
 * const anHourAgo: OffsetSpec = { timestamp: Date.now() - 3_600_000 };
 */
export type OffsetSpec =
  | 'earliest'
  | 'latest'
  | 'max-timestamp'
  | { readonly timestamp: number | Date };

/**
 * The answer to an offset lookup. For a time with no record at or after it, both are null.
 *
 * @example
 * const { offset } = await tributary.topics.lookupOffset('orders', 0, 'latest');
 */
export interface OffsetLookup {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number | null;
  /** The found record's timestamp for a timestamp or max-timestamp spec; null otherwise. */
  readonly timestamp: number | null;
}

/** Offset specs in the query form `spec=earliest|latest|max-timestamp|timestamp:<ms>`. */
export function offsetSpecParam(spec: OffsetSpec): string {
  if (spec === 'earliest' || spec === 'latest' || spec === 'max-timestamp') return spec;
  if (typeof spec === 'object' && spec !== null && 'timestamp' in spec) {
    const t = spec.timestamp instanceof Date ? spec.timestamp.getTime() : spec.timestamp;
    if (Number.isSafeInteger(t) && t >= 0) return `timestamp:${t}`;
  }
  throw invalidArgument(
    `An offset spec is 'earliest', 'latest', 'max-timestamp' or { timestamp } (epoch ms >= 0 or a Date); got ${JSON.stringify(spec)}.`,
    'spec',
  );
}

/**
 * Topic administration: `tributary.topics`.
 *
 * @example
 * await tributary.topics.create({ name: 'orders', partitions: 3, config: { 'retention.ms': '604800000' } });
 * const { partitions } = await tributary.topics.describe('orders');
 */
export class Topics {
  /**
   * Push subscriptions: a Lambda function or an HTTPS endpoint called with each new batch.
   *
   * @example
   * await tributary.topics.subscriptions.create('orders', { name: 'projector', target: { type: 'lambda', function: 'order-projector' } });
   */
  readonly subscriptions: Subscriptions;
  readonly #http: HttpClient;

  /** @internal Use `tributary.topics`. */
  constructor(http: HttpClient) {
    this.#http = http;
    this.subscriptions = new Subscriptions(http);
  }

  /**
   * Creates a topic. `TOPIC_ALREADY_EXISTS` when the name is taken.
   *
   * @example
   * await tributary.topics.create({ name: 'clicks', partitions: 6, config: { 'cleanup.policy': 'compact' } });
   */
  async create(topic: CreateTopic): Promise<TopicDescription> {
    return bodyOf(
      await this.#http.request({
        method: 'POST',
        path: '/v1/topics',
        body: {
          name: topic.name,
          ...(topic.partitions !== undefined && { partitions: topic.partitions }),
          ...(topic.config !== undefined && { config: topic.config }),
        },
        // A resend after a lost answer would say TOPIC_ALREADY_EXISTS, not what happened.
        idempotent: false,
      }),
    );
  }

  /**
   * Every topic, in name order.
   *
   * @example
   * for (const { name, partitions } of await tributary.topics.list()) console.log(name, partitions);
   */
  async list(): Promise<TopicSummary[]> {
    const answer = await this.#http.request({
      method: 'GET',
      path: '/v1/topics',
      idempotent: true,
    });
    return bodyOf<{ topics: TopicSummary[] }>(answer).topics;
  }

  /**
   * A topic's partitions (with their bounds) and config. `TOPIC_NOT_FOUND`.
   *
   * @example
   * const { partitions, config } = await tributary.topics.describe('orders');
   */
  async describe(name: string): Promise<TopicDescription> {
    return bodyOf(
      await this.#http.request({
        method: 'GET',
        path: `/v1/topics/${segment(name)}`,
        idempotent: true,
      }),
    );
  }

  /**
   * Changes configs as a JSON merge patch; all of it applies or none.
   *
   * @example
   * await tributary.topics.alterConfig('orders', { 'retention.ms': '86400000', 'retention.bytes': null });
   */
  async alterConfig(name: string, patch: TopicConfigPatch): Promise<TopicDescription> {
    return bodyOf(
      await this.#http.request({
        method: 'PATCH',
        path: `/v1/topics/${segment(name)}/config`,
        body: patch,
        idempotent: true,
      }),
    );
  }

  /**
   * Raises the partition count to `count` (the new total, as `kafka-topics --alter
   * --partitions` takes it). Keys hash over the new count from then on.
   *
   * @example
   * await tributary.topics.addPartitions('orders', 12);
   */
  async addPartitions(name: string, count: number): Promise<TopicDescription> {
    return bodyOf(
      await this.#http.request({
        method: 'POST',
        path: `/v1/topics/${segment(name)}/partitions`,
        body: { count },
        // Setting a total is idempotent, but a resend after it landed is refused (not larger).
        idempotent: false,
      }),
    );
  }

  /**
   * Deletes a topic for every reader and writer at once.
   *
   * @example
   * await tributary.topics.delete('orders');
   */
  async delete(name: string): Promise<void> {
    await this.#http.request({
      method: 'DELETE',
      path: `/v1/topics/${segment(name)}`,
      idempotent: true,
    });
  }

  /**
   * Looks an offset up: the earliest, the latest (the high watermark), or the first record at
   * or after a time.
   *
   * @example
   * const { offset } = await tributary.topics.lookupOffset('orders', 0, { timestamp: Date.now() - 3_600_000 });
   */
  async lookupOffset(topic: string, partition: number, spec: OffsetSpec): Promise<OffsetLookup> {
    return bodyOf(
      await this.#http.request({
        method: 'GET',
        path: `/v1/topics/${segment(topic)}/partitions/${segment(partition)}/offsets`,
        query: { spec: offsetSpecParam(spec) },
        idempotent: true,
      }),
    );
  }

  /**
   * Makes the caller the partition's exclusive writer by raising its leader epoch; produce
   * with `leaderEpoch` from then on. A writer with an older epoch is refused
   * (`FENCED_LEADER_EPOCH`).
   *
   * @example
   * const { leaderEpoch } = await tributary.topics.takeLeadership('payments', 1);
   */
  async takeLeadership(
    topic: string,
    partition: number,
  ): Promise<{ topic: string; partition: number; leaderEpoch: number }> {
    return bodyOf(
      await this.#http.request({
        method: 'POST',
        path: `/v1/topics/${segment(topic)}/partitions/${segment(partition)}/leader`,
        // Each call raises the epoch: a resend would fence the epoch the first one returned.
        idempotent: false,
      }),
    );
  }
}

/**
 * A topic's partitions in words, for messages: `1 partition (0)`, `2 partitions (0 and
 * 1)`, `6 partitions (0 to 5)`.
 */
export function partitionsInWords(count: number): string {
  if (count === 1) return '1 partition (0)';
  if (count === 2) return '2 partitions (0 and 1)';
  return `${count} partitions (0 to ${count - 1})`;
}
