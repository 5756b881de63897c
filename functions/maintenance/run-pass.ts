import type { MaintenanceReport } from './report.ts';
import { type MaintenanceDeps, runStep } from './steps.ts';
import { startWork, type WorkItem, type WorkState } from './work.ts';

/** Attempts of a work step before its item counts as failed, as the state machine retries. */
export const workAttempts = 3;

/**
 * One maintenance pass in this process, step for step what the state machine does
 * (infra/maintenance.ts): begin, then pages of work items run a few at a time, each
 * stepped until done (a failing step retried, then reported), then finish.
 */
export async function runPass(deps: MaintenanceDeps): Promise<MaintenanceReport> {
  const { passId } = await runStep(deps, 'begin', {});
  let results: WorkState[] = [];
  for (;;) {
    const page = await runStep(deps, 'plan', { passId, results });
    if (page.done) break;
    results = await eachLimited(page.items, deps.settings.concurrency, (item) =>
      runItem(deps, item),
    );
  }
  return (await runStep(deps, 'finish', { passId })).report;
}

async function runItem(deps: MaintenanceDeps, item: WorkItem): Promise<WorkState> {
  let state = startWork(item);
  while (state.more) {
    let attempt = 1;
    for (;;) {
      try {
        state = await runStep(deps, 'work', state);
        break;
      } catch (error: unknown) {
        if (attempt++ >= workAttempts) return runStep(deps, 'failed', { state, error });
        await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      }
    }
  }
  return state;
}

/** `run` over every item, at most `limit` at once; results in item order. */
async function eachLimited<T, R>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await run(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
