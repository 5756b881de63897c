/**
 * Maintenance passes as the bench's cells run them: through `POST /v1/admin/maintenance`,
 * each with the storage calls it made.
 */

import { mergePolicy } from '../functions/maintenance/merge.ts';
import { readerGraceMs } from '../functions/maintenance/rewrite.ts';
import type { MaintenanceReport } from '../sdk/src/maintenance.ts';
import type { CountedStores } from './backends.ts';
import type { BenchClock } from './clock.ts';
import { type StorageCounts, subtractCounts, sumCounts, zeroCounts } from './counting-stores.ts';
import type { LoadGenerator } from './load.ts';

/** What a cell that runs passes is given. */
export interface PassBench {
  readonly backend: string;
  readonly url: string;
  readonly load: LoadGenerator;
  readonly stores: CountedStores;
  readonly progress: (line: string) => void;
}

/** A JSON request to the bench's server; anything but a 2xx is an error. */
export async function apiRequest(
  url: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as unknown;
}

export interface MeasuredPass {
  readonly report: MaintenanceReport;
  readonly counts: StorageCounts;
  readonly seconds: number;
}

/** One pass, with the calls it made and how long it took; a pass with a failure throws. */
export async function runPass(bench: PassBench): Promise<MeasuredPass> {
  bench.stores.takeCounts();
  const started = performance.now();
  const { report } = (await apiRequest(bench.url, 'POST', '/v1/admin/maintenance', {})) as {
    report: MaintenanceReport;
  };
  const seconds = (performance.now() - started) / 1000;
  if (report.failures > 0) throw new Error(`a maintenance pass failed: ${JSON.stringify(report)}`);
  return { report, counts: bench.stores.takeCounts(), seconds };
}

/** A cell whose server runs on a clock it may move forward. */
export interface ClockedBench extends PassBench {
  readonly clock: BenchClock;
}

/**
 * How far the clock moves before each pass of {@link passesUntilDone}: past the age a small
 * batch must reach to be merged, and past the grace a replaced chunk is kept for readers.
 */
export const clockStepMs = Math.max(mergePolicy.minAgeMs, readerGraceMs) + 60_000;

/** What a run of passes did: the reports' counts summed. */
export type DoneCounts = Pick<
  MaintenanceReport,
  | 'compactionRounds'
  | 'recordsRemoved'
  | 'batchesMerged'
  | 'indexEntriesDeleted'
  | 'chunksDeleted'
  | 'bytesFreed'
  | 'orphansDeleted'
>;

const doneFields: readonly (keyof DoneCounts)[] = [
  'compactionRounds',
  'recordsRemoved',
  'batchesMerged',
  'indexEntriesDeleted',
  'chunksDeleted',
  'bytesFreed',
  'orphansDeleted',
];

export interface PassesFigures {
  readonly passes: number;
  /** False when the passes stopped at the limit with work still being done. */
  readonly finished: boolean;
  readonly seconds: number;
  readonly done: DoneCounts;
  /** The passes' calls beyond as many idle passes'. */
  readonly counts: StorageCounts;
}

/**
 * Passes until one finds nothing to do, the clock moved {@link clockStepMs} before each:
 * every merge level, compaction round and release of replaced chunks that waits on an age
 * gets its turn, as hourly passes would give it. `idle` is an idle pass's calls, taken off
 * each pass's.
 */
export async function passesUntilDone(
  bench: ClockedBench,
  idle: StorageCounts,
  maxPasses = 12,
): Promise<PassesFigures> {
  const done = Object.fromEntries(doneFields.map((field) => [field, 0])) as Record<
    keyof DoneCounts,
    number
  >;
  const all: StorageCounts[] = [];
  let seconds = 0;
  let finished = false;
  while (!finished && all.length < maxPasses) {
    bench.clock.advance(clockStepMs);
    const pass = await runPass(bench);
    all.push(subtractCounts(pass.counts, idle));
    seconds += pass.seconds;
    for (const field of doneFields) done[field] += pass.report[field];
    finished = doneFields.every((field) => pass.report[field] === 0);
  }
  return { passes: all.length, finished, seconds, done, counts: sumCounts(all) };
}

/** Passes until there is nothing left to do, then an idle pass: its calls. */
export async function settle(bench: ClockedBench): Promise<StorageCounts> {
  const settled = await passesUntilDone(bench, zeroCounts());
  if (!settled.finished) {
    bench.progress(`  ${bench.backend}: maintenance still busy after ${settled.passes} passes`);
  }
  return (await runPass(bench)).counts;
}
