import type { JsonObject } from '../core/ports/metadata-store.ts';

/**
 * What a pass did, per task. Every field is a count that adds up across work items, pages
 * and overlapping executions.
 */
export interface MaintenanceCounts {
  /** Retention: partitions a pass found work on, and what it deleted there. */
  partitionsVisited: number;
  /** Partitions that held index entries below their log start when visited. */
  partitionsBehindRetention: number;
  indexEntriesDeleted: number;
  chunksDeleted: number;
  bytesFreed: number;
  /** Compaction: rounds finished, and records they removed (superseded, or tombstones past their horizon). */
  compactionRounds: number;
  recordsRemoved: number;
  /** Segment merge: small batches joined into larger ones. */
  batchesMerged: number;
  /** The orphan sweep: topics swept, and chunks no commit referred to. */
  topicsSwept: number;
  orphansDeleted: number;
  orphanBytesFreed: number;
  /** Deleted topics: removed completely, and what was removed on the way. */
  topicsPurged: number;
  purgedItems: number;
  purgedChunks: number;
  /** Work items that failed (retried by a later pass). */
  failures: number;
}

export const noCounts = (): MaintenanceCounts => ({
  partitionsVisited: 0,
  partitionsBehindRetention: 0,
  indexEntriesDeleted: 0,
  chunksDeleted: 0,
  bytesFreed: 0,
  compactionRounds: 0,
  recordsRemoved: 0,
  batchesMerged: 0,
  topicsSwept: 0,
  orphansDeleted: 0,
  orphanBytesFreed: 0,
  topicsPurged: 0,
  purgedItems: 0,
  purgedChunks: 0,
  failures: 0,
});

const fields = Object.keys(noCounts()) as (keyof MaintenanceCounts)[];

export function addCounts(
  into: MaintenanceCounts,
  more: Partial<MaintenanceCounts>,
): MaintenanceCounts {
  const sum = { ...into };
  for (const field of fields) sum[field] += more[field] ?? 0;
  return sum;
}

/** Counts as stored or sent: anything that is not a finite number counts as 0. */
export function countsFromJson(value: unknown): MaintenanceCounts {
  const counts = noCounts();
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const field of fields) {
      const n = (value as Record<string, unknown>)[field];
      if (typeof n === 'number' && Number.isFinite(n)) counts[field] = n;
    }
  }
  return counts;
}

export const countsToJson = (counts: MaintenanceCounts): JsonObject => ({ ...counts });

// The report's wire shape is the SDK's, so server and client cannot drift apart.
export type { MaintenanceReport } from '../../sdk/src/maintenance.ts';
