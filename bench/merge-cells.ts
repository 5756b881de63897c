/**
 * What segment merge (functions/maintenance/merge.ts) buys and what it costs. A partition
 * written one record per request is read from offset 0 with the default fetch, before and
 * after maintenance merged it, beside the same records written 500 per request and read the
 * same way (the reference); and the merge itself — every pass until it is done and the
 * chunks it replaced are deleted, beyond an idle pass each — per 1,000 records merged,
 * beside what writing them one per request cost.
 *
 * Each fetch is answered by a new app, whose batch cache is empty: what a fetch reads is
 * what it costs when consecutive fetches land on different Lambda instances. One app
 * would serve a merged batch from memory to the fetches after the first that read it.
 *
 * Merge waits until a batch is 5 minutes old, and a replaced chunk is kept 5 minutes for
 * readers: the cells run on a server whose clock they move forward (bench/clock.ts).
 */

import { type StorageCounts, scaleCounts } from './counting-stores.ts';
import type { LoadResult } from './load.ts';
import {
  type ClockedBench,
  type PassesFigures,
  passesUntilDone,
  settle,
} from './maintenance-pass.ts';
import { costColumns, costHeader, costRatios, figure, ratio, sizeLabel, table } from './report.ts';
import { createTopic } from './setup-requests.ts';

/** One partition, written by this many requests of one record. */
const records = 2_000;
const valueSizes = [100, 1024] as const;
/** The reference writes the same records this many per request. */
const referenceBatch = 500;
/** The API's default maxRecords; maxBytes is left at its default, 1 MiB. */
const defaultMaxRecords = 500;

/** The cells' parameters, for the printed titles and the JSON results. */
export const mergeConfig = { records, valueSizes, referenceBatch, defaultMaxRecords } as const;

export interface MergeBench extends ClockedBench {
  /** The same stores and clock, each request answered by a new app (empty caches). */
  readonly freshAppUrl: string;
}

/** Reading the partition from offset 0 to its end. */
export interface ReadFigures {
  readonly records: number;
  readonly fetches: number;
  readonly counts: StorageCounts;
}

export interface MergeFigures {
  readonly backend: string;
  readonly valueBytes: number;
  /** Records written one per request, and merged. */
  readonly records: number;
  readonly before: ReadFigures;
  readonly after: ReadFigures;
  /** The same number of records written `referenceBatch` per request, not merged. */
  readonly reference: ReadFigures;
  /** Writing the records one per request. */
  readonly write: StorageCounts;
  readonly merge: PassesFigures;
}

async function write(
  bench: MergeBench,
  topic: string,
  batch: number,
  valueBytes: number,
): Promise<{ result: LoadResult; counts: StorageCounts }> {
  await createTopic(bench.url, topic, 1);
  bench.stores.takeCounts();
  const result = await bench.load.run({
    kind: 'produce',
    url: bench.url,
    topic,
    partitions: [0],
    batch,
    valueBytes,
    durationMs: 0,
    minRequests: records / batch,
    maxDurationMs: 600_000,
  });
  return { result, counts: bench.stores.takeCounts() };
}

/** The partition from offset 0 to its end, with the default fetch, each by a new app. */
async function readAll(bench: MergeBench, topic: string, valueBytes: number): Promise<ReadFigures> {
  bench.stores.takeCounts();
  const result = await bench.load.run({
    kind: 'fetch',
    url: bench.freshAppUrl,
    topic,
    partitions: [{ partition: 0, from: 0, end: records }],
    batch: defaultMaxRecords,
    valueBytes,
    maxDurationMs: 120_000,
  });
  const counts = bench.stores.takeCounts();
  if (result.records !== records) {
    throw new Error(`${topic}: read ${result.records} of the ${records} records written`);
  }
  return { records, fetches: result.requests, counts };
}

export async function mergeCells(bench: MergeBench): Promise<MergeFigures[]> {
  const cells: MergeFigures[] = [];
  for (const valueBytes of valueSizes) {
    const referenceTopic = `bench-merge-reference-${valueBytes}`;
    await write(bench, referenceTopic, referenceBatch, valueBytes);
    const reference = await readAll(bench, referenceTopic, valueBytes);
    const idle = await settle(bench);

    const topic = `bench-merge-${valueBytes}`;
    const written = await write(bench, topic, 1, valueBytes);
    const before = await readAll(bench, topic, valueBytes);
    const merge = await passesUntilDone(bench, idle);
    if (!merge.finished) {
      bench.progress(
        `  ${bench.backend}: the merge of ${topic} was still going after ${merge.passes} passes`,
      );
    }
    const after = await readAll(bench, topic, valueBytes);
    cells.push({
      backend: bench.backend,
      valueBytes,
      records,
      before,
      after,
      reference,
      write: written.counts,
      merge,
    });
    bench.progress(
      `${bench.backend} merge, ${sizeLabel(valueBytes)}: ${merge.done.batchesMerged} batches merged in ${merge.passes} passes (${merge.seconds.toFixed(1)} s); S3 GETs to read ${records} records ${before.counts.segmentGets} → ${after.counts.segmentGets} (reference ${reference.counts.segmentGets})`,
    );
  }
  return cells;
}

const perThousand = (counts: StorageCounts, records: number) =>
  scaleCounts(counts, 1000 / Math.max(1, records));

/** Reading the records before and after merge, and the reference, per 1,000 records. */
export function mergeReadTable(cells: readonly MergeFigures[]): string {
  const header = ['backend', 'value', 'read', 'fetches', 'S3 GET', 'MB read', 'RCU'];
  const rows: string[][] = [];
  for (const cell of cells) {
    const reads = [
      ['1 per request, before merge', cell.before],
      ['1 per request, after merge', cell.after],
      [`${referenceBatch} per request (reference)`, cell.reference],
    ] as const;
    const per = (read: ReadFigures) => ({
      fetches: (read.fetches * 1000) / Math.max(1, read.records),
      ...perThousand(read.counts, read.records),
    });
    for (const [what, read] of reads) {
      const p = per(read);
      rows.push([
        cell.backend,
        sizeLabel(cell.valueBytes),
        what,
        figure(p.fetches),
        figure(p.segmentGets),
        figure(p.segmentGetBytes / 1e6),
        figure(p.readUnits),
      ]);
    }
    const [before, after, reference] = [per(cell.before), per(cell.after), per(cell.reference)];
    for (const [what, a, b] of [
      ['before ÷ after', before, after],
      ['after ÷ reference', after, reference],
    ] as const) {
      rows.push([
        cell.backend,
        sizeLabel(cell.valueBytes),
        what,
        ratio(a.fetches, b.fetches),
        ratio(a.segmentGets, b.segmentGets),
        ratio(a.segmentGetBytes, b.segmentGetBytes),
        ratio(a.readUnits, b.readUnits),
      ]);
    }
  }
  return table(header, rows, 3);
}

/** The merge's one-time cost per 1,000 records merged, beside writing them. */
export function mergeCostTable(cells: readonly MergeFigures[]): string {
  const header = ['backend', 'value', 'what', 'passes', ...costHeader];
  const rows: string[][] = [];
  for (const cell of cells) {
    const merge = perThousand(cell.merge.counts, cell.records);
    const write = perThousand(cell.write, cell.records);
    const value = sizeLabel(cell.valueBytes);
    rows.push(
      [
        cell.backend,
        value,
        `merge (${cell.merge.done.batchesMerged} batches merged)`,
        String(cell.merge.passes),
        ...costColumns(merge),
      ],
      [cell.backend, value, 'writing them, 1 per request (reference)', '-', ...costColumns(write)],
      [cell.backend, value, 'merge ÷ writing', '', ...costRatios(merge, write, false)],
    );
  }
  return table(header, rows, 3);
}
