/**
 * Maintenance passes as the bench's cells run them: through `POST /v1/admin/maintenance`,
 * each with the storage calls it made.
 */

import type { MaintenanceReport } from '../sdk/src/maintenance.ts';
import type { CountedStores } from './backends.ts';
import type { StorageCounts } from './counting-stores.ts';
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
