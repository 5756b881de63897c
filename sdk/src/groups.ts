import { bodyOf } from './answers.ts';
import { invalidArgument } from './errors.ts';
import { type HttpClient, segment } from './http.ts';

/**
 * Partitions of one topic, as assignments and rebalance callbacks list them.
 *
 * @example
 * const owned: TopicPartitions[] = [{ topic: 'orders', partitions: [0, 2] }];
 */
export interface TopicPartitions {
  readonly topic: string;
  readonly partitions: readonly number[];
}

/**
 * A group's progress and lag on one partition.
 *
 * @example
 * const behind = (await tributary.groups.offsets('billing')).filter((p: PartitionLag) => (p.lag ?? 0) > 1_000);
 */
export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  /** The next offset the group will consume; null when it never committed. */
  readonly committedOffset: number | null;
  readonly metadata: string | null;
  readonly highWatermark: number;
  /** highWatermark - committedOffset; null without a commit. */
  readonly lag: number | null;
}

/**
 * A group as `groups.list()` shows it.
 *
 * @example
 * const empty = (await tributary.groups.list()).filter((g: GroupSummary) => g.state === 'Empty');
 */
export interface GroupSummary {
  readonly group: string;
  readonly state: 'Empty' | 'Stable';
  /** Live members. */
  readonly members: number;
  readonly generation: number;
}

/**
 * A live member of a group.
 *
 * @example
 * const { members } = await tributary.groups.describe('billing');
 * for (const m of members) console.log(m.memberId, m.assignment);
 */
export interface GroupMemberDescription {
  readonly memberId: string;
  readonly instanceId: string | null;
  readonly topics: readonly string[];
  readonly sessionTimeoutMs: number;
  /** Epoch milliseconds. */
  readonly lastHeartbeat: number;
  readonly assignment: readonly TopicPartitions[];
}

/**
 * A group: its state, generation, members and offsets.
 *
 * @example
 * const { state, generation } = await tributary.groups.describe('billing');
 */
export interface GroupDescription {
  readonly group: string;
  readonly state: 'Empty' | 'Stable';
  readonly generation: number;
  readonly members: readonly GroupMemberDescription[];
  readonly offsets: readonly PartitionLag[];
}

/**
 * An offset to commit: the next offset to read on the partition, as in Kafka.
 *
 * @example
 * await consumer.commit([{ topic: 'orders', partition: 0, offset: record.offset + 1 }]);
 */
export interface OffsetCommit {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** Up to 4,096 characters kept beside the offset. */
  readonly metadata?: string;
}

/**
 * Where `groups.resetOffsets` moves a group: the log start, the high watermark, the first
 * record at or after a time (the high watermark if none), or an offset (clamped into the log).
 *
 * @example
 * const yesterday: ResetTarget = { timestamp: Date.now() - 86_400_000 };
 */
export type ResetTarget =
  | 'earliest'
  | 'latest'
  | { readonly timestamp: number | Date }
  | { readonly offset: number };

function resetParam(to: ResetTarget): string {
  if (to === 'earliest' || to === 'latest') return to;
  if (typeof to === 'object' && to !== null) {
    if ('offset' in to && Number.isSafeInteger(to.offset) && to.offset >= 0)
      return String(to.offset);
    if ('timestamp' in to) {
      const t = to.timestamp instanceof Date ? to.timestamp.getTime() : to.timestamp;
      if (Number.isSafeInteger(t) && t >= 0) return `timestamp:${t}`;
    }
  }
  throw invalidArgument(
    `A reset target is 'earliest', 'latest', { timestamp } or { offset }; got ${JSON.stringify(to)}.`,
    'to',
  );
}

/**
 * Consumer group administration: `tributary.groups`. To consume as a member of a group, use
 * `tributary.consumer()`.
 *
 * @example
 * for (const { topic, partition, lag } of await tributary.groups.offsets('reporting')) {
 *   console.log(`${topic}-${partition}: lag ${lag ?? 'no commit'}`);
 * }
 */
export class Groups {
  readonly #http: HttpClient;

  /** @internal Use `tributary.groups`. */
  constructor(http: HttpClient) {
    this.#http = http;
  }

  /**
   * Every group, with its state, live member count and generation.
   *
   * @example
   * const groups = await tributary.groups.list();
   */
  async list(): Promise<GroupSummary[]> {
    const answer = await this.#http.request({
      method: 'GET',
      path: '/v1/groups',
      idempotent: true,
    });
    return bodyOf<{ groups: GroupSummary[] }>(answer).groups;
  }

  /**
   * A group's members, their assignments and last heartbeats, and its offsets. `GROUP_NOT_FOUND`.
   *
   * @example
   * const { state, members } = await tributary.groups.describe('reporting');
   */
  async describe(group: string): Promise<GroupDescription> {
    return bodyOf(
      await this.#http.request({
        method: 'GET',
        path: `/v1/groups/${segment(group)}`,
        idempotent: true,
      }),
    );
  }

  /**
   * Committed offsets and lag on every partition the group subscribes to or committed.
   *
   * @example
   * const lag = (await tributary.groups.offsets('reporting')).reduce((sum, p) => sum + (p.lag ?? 0), 0);
   */
  async offsets(group: string): Promise<PartitionLag[]> {
    const answer = await this.#http.request({
      method: 'GET',
      path: `/v1/groups/${segment(group)}/offsets`,
      idempotent: true,
    });
    return bodyOf<{ offsets: PartitionLag[] }>(answer).offsets;
  }

  /**
   * Moves the group's committed offsets on every partition of a topic, like
   * `kafka-consumer-groups --reset-offsets`; only while the group has no live members
   * (`GROUP_NOT_EMPTY`).
   *
   * @example
   * await tributary.groups.resetOffsets('reporting', { topic: 'clicks', to: { timestamp: Date.now() - 86_400_000 } });
   */
  async resetOffsets(
    group: string,
    reset: { readonly topic: string; readonly to: ResetTarget },
  ): Promise<PartitionLag[]> {
    const answer = await this.#http.request({
      method: 'POST',
      path: `/v1/groups/${segment(group)}/offsets/reset`,
      body: { topic: reset.topic, to: resetParam(reset.to) },
      idempotent: true,
    });
    return bodyOf<{ offsets: PartitionLag[] }>(answer).offsets;
  }

  /**
   * Commits offsets for a group with no live members, as Kafka's admin tools do (it creates
   * the group if needed). Members commit through their consumer instead.
   *
   * @example
   * await tributary.groups.commitOffsets('reporting', [{ topic: 'clicks', partition: 0, offset: 42 }]);
   */
  async commitOffsets(group: string, offsets: readonly OffsetCommit[]): Promise<void> {
    await this.#http.request({
      method: 'POST',
      path: `/v1/groups/${segment(group)}/offsets`,
      body: { offsets },
      idempotent: true,
    });
  }

  /**
   * Deletes an empty group and its committed offsets (`GROUP_NOT_EMPTY` otherwise). Once
   * begun, a delete is finished by whatever next touches the group, so a group created
   * again under the name never sees the old offsets; a retry after a failed attempt
   * finishes it and succeeds.
   *
   * @example
   * await tributary.groups.delete('reporting');
   */
  async delete(group: string): Promise<void> {
    await this.#http.request({
      method: 'DELETE',
      path: `/v1/groups/${segment(group)}`,
      idempotent: true,
    });
  }
}
