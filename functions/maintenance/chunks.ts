import type { CoreContext } from '../core/context.ts';
import { batchSk, maintKey, partitionPk } from '../core/keys.ts';
import type { ChunkSibling, IndexEntry } from '../core/log/partition-items.ts';
import type { ItemKey, JsonValue } from '../core/ports/metadata-store.ts';
import type { Topic } from '../core/topics/topic.ts';
import { type MaintState, maintFromItem, updateMaint } from './maint.ts';
import type { MaintenanceCounts } from './report.ts';

/**
 * A chunk that lost a reference on a partition: its key and every batch it holds,
 * [partition, baseOffset, byteLength] — that partition's among them.
 */
export interface PendingChunk {
  readonly chunk: string;
  readonly refs: readonly ChunkSibling[];
}

/** The pending chunks of these entries, each once, with every batch of the chunk. */
export function pendingChunks(partition: number, entries: readonly IndexEntry[]): PendingChunk[] {
  const byChunk = new Map<string, PendingChunk>();
  for (const entry of entries) {
    const own: ChunkSibling = [partition, entry.baseOffset, entry.byteLength];
    const known = byChunk.get(entry.chunk);
    const refs = [...(known?.refs ?? []), own, ...(known ? [] : (entry.siblings ?? []))];
    byChunk.set(entry.chunk, { chunk: entry.chunk, refs });
  }
  return [...byChunk.values()];
}

export const pendingToJson = (pending: readonly PendingChunk[]): JsonValue =>
  pending.map((p) => ({ chunk: p.chunk, refs: p.refs.map((r) => [...r]) }));

export function pendingFromJson(value: unknown): PendingChunk[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((p) => {
    if (!p || typeof p !== 'object' || typeof p.chunk !== 'string' || !Array.isArray(p.refs)) {
      return [];
    }
    const refs = p.refs.map((r: unknown): ChunkSibling => {
      const [partition, baseOffset, byteLength] = Array.isArray(r) ? r : [];
      return [Number(partition), Number(baseOffset), Number(byteLength)];
    });
    return [{ chunk: p.chunk, refs }];
  });
}

const chunkBytes = (pending: PendingChunk) =>
  pending.refs.reduce((sum, [, , length]) => sum + length, 0);

/** Chunks judged in one step. */
const chunksPerStep = 1_000;

/**
 * One step of releasing a topic's chunks: the chunks its partitions' cleanups listed as
 * pending are judged, and those no index entry refers to any more are deleted.
 *
 * A chunk holds the batches of up to 32 partitions, each with its own index entry, and dies
 * with the last of them. A partition's cleanup lists the chunk *before* deleting its entry
 * (retention.ts), and the chunk leaves that list only here, once that entry is gone:
 * - no entry refers to it: it is deleted, counted once (one step per topic judges it);
 * - another partition still refers to it: that partition lists it again when its own
 *   entry goes, and the chunk is judged again then;
 * - the listing partition's own entry is still there (its cleanup crashed before the
 *   delete, or is under way): it stays listed.
 * An entry that still exists but points at another chunk (a rewrite replaced the batch)
 * no longer refers to this one. Deleting is idempotent, and each list is updated by a
 * conditional write merged with what was added meanwhile, so re-running a step, a crash
 * at any line, or a cleanup running at the same time loses nothing.
 */
export async function releaseChunks(
  ctx: CoreContext,
  topic: Topic,
): Promise<{ more: boolean; counts: Partial<MaintenanceCounts> }> {
  const partitions = Array.from({ length: topic.partitions }, (_, p) => p);
  const maints = (await ctx.metadata.getMany(partitions.map((p) => maintKey(topic.id, p)))).map(
    maintFromItem,
  );
  // Each chunk once, with the partitions listing it.
  const listed = new Map<string, { pending: PendingChunk; holders: number[] }>();
  let more = false;
  maints.forEach((maint: MaintState, partition) => {
    for (const pending of maint.pending) {
      const known = listed.get(pending.chunk);
      if (known) known.holders.push(partition);
      else if (listed.size < chunksPerStep)
        listed.set(pending.chunk, { pending, holders: [partition] });
      else more = true;
    }
  });
  if (listed.size === 0) return { more: false, counts: {} };

  const chunks = [...listed.values()];
  const keys: ItemKey[] = chunks.flatMap(({ pending }) =>
    pending.refs.map(([q, base]) => refKey(topic.id, q, base)),
  );
  const items = await ctx.metadata.getMany(keys);
  const dead: PendingChunk[] = [];
  /** Per listing partition, the chunks it may forget. */
  const forget = new Map<number, Set<string>>();
  let i = 0;
  for (const { pending, holders } of chunks) {
    const referring = new Set<number>();
    for (const [q] of pending.refs) {
      if (items[i++]?.data.chunk === pending.chunk) referring.add(q);
    }
    if (referring.size === 0) dead.push(pending);
    for (const holder of holders) {
      if (referring.has(holder)) continue;
      forget.set(holder, (forget.get(holder) ?? new Set()).add(pending.chunk));
    }
  }
  if (dead.length > 0) await ctx.segments.delete(dead.map((p) => p.chunk));
  for (const [partition, chunkKeys] of forget) {
    await updateMaint(ctx, topic, partition, (maint) => ({
      ...maint,
      pending: maint.pending.filter((p) => !chunkKeys.has(p.chunk)),
    }));
  }
  return {
    // More listed than one step judges, and this one got somewhere.
    more: more && forget.size > 0,
    counts: {
      chunksDeleted: dead.length,
      bytesFreed: dead.reduce((sum, p) => sum + chunkBytes(p), 0),
    },
  };
}

const refKey = (topicId: string, partition: number, baseOffset: number): ItemKey => ({
  pk: partitionPk(topicId, partition),
  sk: batchSk(baseOffset),
});
