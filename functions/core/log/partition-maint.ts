import { chunkTimeKey, partitionPk } from '../keys.ts';
import type { ItemKey, JsonObject, JsonValue, StoredItem } from '../ports/metadata-store.ts';
import type { ChunkSibling } from './partition-items.ts';

/**
 * A partition's maintenance state (`maint`, beside its head), written only by the
 * maintenance workflow:
 *
 *   cleanedTo      every index entry wholly below it has been deleted by retention (or is
 *                  being deleted: its chunks are listed in a gc item), and counted in
 *                  freedBytes
 *   freedBytes     bytes no longer stored: batches retention deleted, and what rewrites
 *                  saved; the partition stores head.nextPosition - freedBytes
 *   gcAt           the earliest time a gc item of the partition comes due (absent: none)
 *   mergedTo       segment merge has merged every run of small batches below it
 *   mergeLevel     a merge level under way: where it has got to, and whether it merged
 *                  anything (merge.ts)
 *   compactedTo    compaction has cleaned the log below it (Kafka's first dirty offset)
 *   dirtyPosition  head.nextPosition less the bytes the entries from compactedTo store (the
 *                  dirty part): where they began, moved on by what rewrites saved among
 *                  them (once retention passes compactedTo, all that is left is dirty)
 *   epoch          raised by every compaction round; a round's swaps are fenced by it
 *   round          the compaction round under way (compaction.ts)
 *   nextHorizon    the earliest delete horizon of a clean batch's tombstones
 */
export interface PartitionMaint {
  readonly cleanedTo: number;
  readonly freedBytes: number;
  readonly gcAt: number | undefined;
  readonly mergedTo: number;
  readonly mergeLevel: { readonly cursor: number; readonly merged: boolean } | undefined;
  readonly compactedTo: number;
  readonly dirtyPosition: number;
  readonly epoch: number;
  readonly round: CompactionRound | undefined;
  readonly nextHorizon: number | undefined;
  readonly version: number | undefined;
}

/**
 * A compaction round: the records of [from, end) — the dirty part when the round began —
 * decide which records of [log start, end) are kept; the rewrite has reached `cursor`.
 * `epoch` names the round: every swap of it is conditioned on the state still naming it.
 */
export interface CompactionRound {
  readonly epoch: number;
  readonly from: number;
  /** The earliest delete horizon of the batches the round wrote so far. */
  readonly minHorizon?: number;
  readonly end: number;
  readonly cursor: number;
  /** When the round began: tombstones it passes first get their horizon from it. */
  readonly startedAt: number;
}

export const noMaint: PartitionMaint = {
  cleanedTo: 0,
  freedBytes: 0,
  gcAt: undefined,
  mergedTo: 0,
  mergeLevel: undefined,
  compactedTo: 0,
  dirtyPosition: 0,
  epoch: 0,
  round: undefined,
  nextHorizon: undefined,
  version: undefined,
};

const num = (value: unknown, fallback: number) =>
  typeof value === 'number' && Number.isFinite(value) ? value : fallback;

export function maintFromItem(item: StoredItem | undefined): PartitionMaint {
  if (!item) return noMaint;
  const d = item.data;
  const round = d.round && typeof d.round === 'object' && !Array.isArray(d.round) ? d.round : null;
  const level =
    d.mergeLevel && typeof d.mergeLevel === 'object' && !Array.isArray(d.mergeLevel)
      ? d.mergeLevel
      : null;
  return {
    cleanedTo: num(d.cleanedTo, 0),
    freedBytes: num(d.freedBytes, 0),
    gcAt: typeof d.gcAt === 'number' ? d.gcAt : undefined,
    mergedTo: num(d.mergedTo, 0),
    mergeLevel: level ? { cursor: num(level.cursor, 0), merged: level.merged === true } : undefined,
    compactedTo: num(d.compactedTo, 0),
    dirtyPosition: num(d.dirtyPosition, 0),
    epoch: num(d.epoch, 0),
    round: round
      ? {
          epoch: num(round.epoch, 0),
          from: num(round.from, 0),
          end: num(round.end, 0),
          cursor: num(round.cursor, 0),
          startedAt: num(round.startedAt, 0),
          ...(typeof round.minHorizon === 'number' && { minHorizon: round.minHorizon }),
        }
      : undefined,
    nextHorizon: typeof d.nextHorizon === 'number' ? d.nextHorizon : undefined,
    version: item.version,
  };
}

export function maintData(maint: Omit<PartitionMaint, 'version'>): JsonObject {
  return {
    cleanedTo: maint.cleanedTo,
    freedBytes: maint.freedBytes,
    ...(maint.gcAt !== undefined && { gcAt: maint.gcAt }),
    mergedTo: maint.mergedTo,
    ...(maint.mergeLevel && { mergeLevel: { ...maint.mergeLevel } }),
    compactedTo: maint.compactedTo,
    dirtyPosition: maint.dirtyPosition,
    epoch: maint.epoch,
    ...(maint.round && { round: { ...maint.round } }),
    ...(maint.nextHorizon !== undefined && { nextHorizon: maint.nextHorizon }),
  };
}

/** The bytes a partition stores: everything appended, less what maintenance freed. */
export const storedBytes = (nextPosition: number, maint: PartitionMaint): number =>
  Math.max(0, nextPosition - maint.freedBytes);

/**
 * A chunk that lost references: its key and every batch it holds, [partition, baseOffset,
 * byteLength], the first `released` of them the ones the change let go of.
 */
export interface PendingChunk {
  readonly chunk: string;
  readonly refs: readonly ChunkSibling[];
  readonly released: number;
}

/**
 * Chunks a partition let go of, to be judged once `due` has passed (gc.ts): one item per
 * change that let go of them (a retention step, a rewrite's swap), written in the same
 * transaction as that change, so they can be neither lost nor listed without cause.
 *
 *   pk log#<topicId>#<p>, sk gc#<13-digit due time>-<id>: { chunks: [{ chunk, refs }] }
 */
export const gcSkPrefix = 'gc#';
export const gcKey = (topicId: string, partition: number, due: number, id: string): ItemKey => ({
  pk: partitionPk(topicId, partition),
  sk: `${gcSkPrefix}${chunkTimeKey(due)}-${id}`,
});
/** Sorts after the key of every gc item due at or before `time`. */
export const gcDueEnd = (time: number) => `${gcSkPrefix}${chunkTimeKey(time)}.`;

export const pendingToJson = (pending: readonly PendingChunk[]): JsonValue =>
  pending.map((p) => ({ chunk: p.chunk, refs: p.refs.map((r) => [...r]), released: p.released }));

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
    const released = Number.isInteger(p.released) ? p.released : refs.length;
    return [{ chunk: p.chunk, refs, released }];
  });
}
