/**
 * What log compaction (functions/maintenance/compaction.ts) costs per GB of dirty data it
 * compacts. A `cleanup.policy=compact` topic is written with keyed records, every request
 * writing the same keys again, so all but the last record of each key is superseded; then
 * passes run (min.cleanable.dirty.ratio and the other configs at their defaults) until it
 * is compacted, the compacted batches merged and the replaced chunks deleted. The calls
 * of those passes beyond as many idle passes are scaled to a GB of the dirty bytes the
 * topic stored, beside writing that GB and expiring one (the maintenance cell's figure).
 */

import type { TopicDescription } from '../sdk/src/topics.ts';
import { type StorageCounts, scaleCounts } from './counting-stores.ts';
import type { MaintenanceFigures } from './maintenance-cells.ts';
import {
  apiRequest,
  type ClockedBench,
  type PassesFigures,
  passesUntilDone,
  settle,
} from './maintenance-pass.ts';
import { costColumns, costHeader, costRatios, figure, table } from './report.ts';
import { createTopic } from './setup-requests.ts';

const gb = 1e9;
const topic = 'bench-compaction';
/**
 * One partition of 320 batches: a compaction round rewrites at most 90 batches a step, so
 * this one takes four, as a round over a large partition takes many.
 */
const partitions = 1;
const valueBytes = 1024;
const batch = 100;
/** Every request writes these keys again: one record of each survives per partition. */
const keys = 100;
const requestsPerPartition = 320;

/** The cell's parameters, for the printed title and the JSON results. */
export const compactionConfig = {
  partitions,
  valueBytes,
  batch,
  keys,
  requestsPerPartition,
} as const;

export interface CompactionFigures {
  readonly backend: string;
  readonly records: number;
  /** Distinct keys over all partitions: the records compaction keeps. */
  readonly keys: number;
  /** What the topic stored before the passes (describe's sizeBytes), all of it dirty. */
  readonly dirtyBytes: number;
  /** What it stored after. */
  readonly storedBytes: number;
  readonly passes: PassesFigures;
  /** Writing the records, `batch` per request. */
  readonly write: StorageCounts;
}

/** The partitions' sizeBytes and dirty ratios, summed and weighed. */
async function stored(bench: ClockedBench): Promise<{ bytes: number; dirtyBytes: number }> {
  const described = (await apiRequest(bench.url, 'GET', `/v1/topics/${topic}`)) as TopicDescription;
  let bytes = 0;
  let dirtyBytes = 0;
  for (const p of described.partitions) {
    bytes += p.sizeBytes;
    dirtyBytes += p.sizeBytes * (p.dirtyRatio ?? 0);
  }
  return { bytes, dirtyBytes };
}

export async function compactionCells(bench: ClockedBench): Promise<CompactionFigures> {
  const idle = await settle(bench);
  await createTopic(bench.url, topic, partitions, { 'cleanup.policy': 'compact' });
  bench.stores.takeCounts();
  const written = await bench.load.run({
    kind: 'produce',
    url: bench.url,
    topic,
    partitions: Array.from({ length: partitions }, (_, p) => p),
    batch,
    valueBytes,
    keys,
    durationMs: 0,
    minRequests: requestsPerPartition * partitions,
    maxDurationMs: 600_000,
  });
  const write = bench.stores.takeCounts();
  const before = await stored(bench);
  const passes = await passesUntilDone(bench, idle);
  const after = await stored(bench);

  const superseded = written.records - partitions * keys;
  if (!passes.finished || passes.done.recordsRemoved !== superseded) {
    bench.progress(
      `  ${bench.backend}: compaction removed ${passes.done.recordsRemoved} of ${superseded} superseded records in ${passes.passes} passes${passes.finished ? '' : ', and was still going'}`,
    );
  }
  bench.progress(
    `${bench.backend} compaction: ${(before.dirtyBytes / 1e6).toFixed(1)} MB dirty → ${(after.bytes / 1e6).toFixed(2)} MB stored in ${passes.passes} passes (${passes.seconds.toFixed(1)} s)`,
  );
  return {
    backend: bench.backend,
    records: written.records,
    keys: partitions * keys,
    dirtyBytes: before.dirtyBytes,
    storedBytes: after.bytes,
    passes,
    write,
  };
}

/**
 * Per GB of dirty data compacted, beside writing a GB 100 records per request and
 * expiring one written so (from the maintenance cells of the same backend).
 */
export function compactionTable(
  cells: readonly CompactionFigures[],
  maintenance: readonly MaintenanceFigures[],
): string {
  const header = ['backend', 'per GB', 'passes', 'pass s', ...costHeader];
  const rows: string[][] = [];
  for (const cell of cells) {
    const perGb = gb / Math.max(1, cell.dirtyBytes);
    const compaction = scaleCounts(cell.passes.counts, perGb);
    const write = scaleCounts(cell.write, perGb);
    const expiry = maintenance
      .find((m) => m.backend === cell.backend)
      ?.expiry.find((e) => e.batch === batch);
    const expired = expiry && scaleCounts(expiry.counts, gb / Math.max(1, expiry.bytes));
    const row = (what: string, passes: string, seconds: string, counts: StorageCounts) => [
      cell.backend,
      what,
      passes,
      seconds,
      ...costColumns(counts),
    ];
    const { done } = cell.passes;
    rows.push(
      row(
        `compacted (${figure(cell.dirtyBytes / 1e6)} MB measured → ${figure(cell.storedBytes / 1e6)} MB stored; ${done.recordsRemoved} of ${cell.records} records removed, ${cell.keys} keys kept; ${done.compactionRounds} round${done.compactionRounds === 1 ? '' : 's'})`,
        String(cell.passes.passes),
        figure(cell.passes.seconds * perGb),
        compaction,
      ),
      row(`written ${batch} records per request (reference)`, '-', '-', write),
    );
    if (expired) {
      rows.push(row(`expired, written ${batch} per request (reference)`, '1', '-', expired));
    }
    const ratios = (what: string, reference: StorageCounts, reads: boolean) => [
      cell.backend,
      what,
      '',
      '',
      ...costRatios(compaction, reference, reads),
    ];
    rows.push(ratios('compaction ÷ writing', write, false));
    if (expired) rows.push(ratios('compaction ÷ expiry', expired, true));
  }
  return table(header, rows, 2);
}
