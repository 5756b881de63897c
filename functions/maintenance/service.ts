import type { MaintenanceReport, MaintenanceRun } from '../../sdk/src/maintenance.ts';
import { lastPass } from './pass.ts';
import { runPass } from './run-pass.ts';
import type { MaintenanceDeps } from './steps.ts';

const didSomething = (report: MaintenanceReport) =>
  report.indexEntriesDeleted +
    report.chunksDeleted +
    report.orphansDeleted +
    report.topicsPurged +
    report.purgedItems +
    report.purgedChunks +
    report.compactionRounds +
    report.recordsRemoved +
    report.batchesMerged +
    report.failures >
  0;

// A run as the API shows it (`GET /v1/admin/maintenance/{id}`): the SDK's wire shape.
export type { MaintenanceRun } from '../../sdk/src/maintenance.ts';

/**
 * How the API starts maintenance on demand. Locally a pass runs in this process and the
 * answer waits for its report; in AWS an execution of the state machine starts and the
 * answer is its id, to look up later.
 */
export interface MaintenanceService {
  run(): Promise<
    | { readonly kind: 'finished'; readonly report: MaintenanceReport }
    | { readonly kind: 'started'; readonly run: MaintenanceRun }
  >;
  /** Undefined for an id it does not know. */
  describe(id: string): Promise<MaintenanceRun | undefined>;
}

/** Reports of finished passes a local server keeps, so their ids stay answerable. */
const reportsKept = 100;

const runOf = (report: MaintenanceReport): MaintenanceRun => ({
  id: report.passId,
  status: report.finishedAt === undefined ? 'RUNNING' : 'SUCCEEDED',
  startedAt: report.startedAt,
  ...(report.finishedAt !== undefined && { stoppedAt: report.finishedAt, report }),
});

/**
 * Passes in this process (`npm start`): on demand, and every `intervalMs` when started. One
 * runs at a time; a pass asked for while another runs starts when it ends, so its report
 * covers a pass that began after the request. The last `reportsKept` reports stay
 * answerable by id, as a deployed stack's executions do: the timer runs a pass a minute, so
 * keeping only the latest would forget an id asked for on demand within a minute.
 */
export class LocalMaintenance implements MaintenanceService {
  readonly #deps: MaintenanceDeps;
  readonly #reports = new Map<string, MaintenanceReport>();
  #running: Promise<unknown> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(deps: MaintenanceDeps) {
    this.#deps = deps;
  }

  async run(): Promise<{ kind: 'finished'; report: MaintenanceReport }> {
    const pass = this.#running
      .catch(() => undefined)
      .then(async () => {
        const report = await runPass(this.#deps);
        this.#keep(report);
        return report;
      });
    this.#running = pass;
    return { kind: 'finished', report: await pass };
  }

  async describe(id: string): Promise<MaintenanceRun | undefined> {
    const kept = this.#reports.get(id);
    if (kept) return runOf(kept);
    // A pass under way, or the last one before this process started.
    const report = await lastPass(this.#deps.ctx);
    return report?.passId === id ? runOf(report) : undefined;
  }

  #keep(report: MaintenanceReport): void {
    if (report.finishedAt === undefined) return;
    this.#reports.delete(report.passId);
    this.#reports.set(report.passId, report);
    for (const oldest of this.#reports.keys()) {
      if (this.#reports.size <= reportsKept) break;
      this.#reports.delete(oldest);
    }
  }

  /** Runs a pass every `intervalMs` (after the previous one ends) until `stop()`. */
  start(intervalMs: number): void {
    const tick = () => {
      this.#timer = setTimeout(async () => {
        try {
          const { report } = await this.run();
          // Quiet when there was nothing to do, as on an idle laptop.
          if (didSomething(report)) this.#deps.log.info('maintenance pass', { ...report });
        } catch (error: unknown) {
          this.#deps.log.error('maintenance pass failed', { error });
        }
        if (!this.#stopped) tick();
      }, intervalMs);
      this.#timer.unref();
    };
    tick();
  }

  /** Stops the timer and waits for a pass under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running.catch(() => undefined);
  }
}
