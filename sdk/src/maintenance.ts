import type { Acls, ApiKeys } from './access.ts';
import { bodyOf } from './answers.ts';
import { invalidArgument } from './errors.ts';
import { type HttpClient, segment, sleep } from './http.ts';

/**
 * What a maintenance pass did: retention that freed storage, chunks released, orphans
 * swept, deleted topics purged.
 *
 * @example
 * const { report } = await tributary.admin.maintenance.run({ wait: true });
 * console.log(`${report?.bytesFreed} bytes freed in ${report?.durationMs} ms`);
 */
export interface MaintenanceReport {
  readonly passId: string;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  /** Absent while the pass is under way. */
  readonly finishedAt?: number;
  readonly durationMs?: number;
  /** Partitions the pass found work on (expired data, or retention to apply). */
  readonly partitionsVisited: number;
  /** Of those, partitions that still stored entries below their log start. */
  readonly partitionsBehindRetention: number;
  /** Index entries deleted below log starts. */
  readonly indexEntriesDeleted: number;
  /** Chunks deleted once no index entry referred to them (after retention, or replaced by a rewrite). */
  readonly chunksDeleted: number;
  /** Bytes of those chunks, and of batches held inline whose entries retention deleted. */
  readonly bytesFreed: number;
  /** Compaction rounds finished, and the records they removed (superseded, or tombstones past their delete horizon). */
  readonly compactionRounds: number;
  readonly recordsRemoved: number;
  /** Small batches joined into larger ones by segment merge. */
  readonly batchesMerged: number;
  /** Topics whose orphan chunks were swept. */
  readonly topicsSwept: number;
  /** Chunks no commit ever referred to, deleted once older than the orphan grace. */
  readonly orphansDeleted: number;
  readonly orphanBytesFreed: number;
  /** Deleted topics fully removed, and the items and chunks removed on the way. */
  readonly topicsPurged: number;
  readonly purgedItems: number;
  readonly purgedChunks: number;
  /** Work items that failed; a later pass does them again. */
  readonly failures: number;
  /** The first failures' errors. */
  readonly errors?: readonly { readonly item: string; readonly error: string }[];
}

/**
 * A maintenance run: on a local server a pass done by the time it is answered; in AWS an
 * execution of the maintenance state machine.
 *
 * @example
 * const run: MaintenanceRun = await tributary.admin.maintenance.describe(id);
 * if (run.status === 'SUCCEEDED') console.log(run.report?.chunksDeleted);
 */
export interface MaintenanceRun {
  readonly id: string;
  readonly status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  /** Epoch milliseconds. */
  readonly startedAt: number;
  readonly stoppedAt?: number;
  /** When it succeeded. */
  readonly report?: MaintenanceReport;
}

/**
 * The maintenance workflow on demand: `tributary.admin.maintenance`. Needs ALTER on the
 * cluster to run, DESCRIBE to look a run up.
 *
 * @example
 * const run = await tributary.admin.maintenance.run({ wait: true });
 * console.log(run.status, run.report?.bytesFreed);
 */
export class Maintenance {
  readonly #http: HttpClient;

  /** @internal Use `tributary.admin.maintenance`. */
  constructor(http: HttpClient) {
    this.#http = http;
  }

  /**
   * Runs a maintenance pass. A local server answers when the pass is done; a deployed
   * stack starts an execution and answers at once with `status: 'RUNNING'` — with
   * `wait: true` this then looks the run up every `pollIntervalMs` (default 2,000) until it
   * ends.
   *
   * @example
   * const { status, report } = await tributary.admin.maintenance.run({ wait: true });
   */
  async run(
    options: {
      readonly wait?: boolean;
      readonly pollIntervalMs?: number;
      readonly signal?: AbortSignal;
    } = {},
  ): Promise<MaintenanceRun> {
    const pollIntervalMs = options.pollIntervalMs ?? 2_000;
    if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 10) {
      throw invalidArgument('pollIntervalMs must be an integer of at least 10.', 'pollIntervalMs');
    }
    const answer = await this.#http.request({
      method: 'POST',
      path: '/v1/admin/maintenance',
      body: {},
      // Two passes are as good as one: every step of a pass is idempotent.
      idempotent: true,
      ...(options.signal && { signal: options.signal }),
    });
    if (answer.status === 200) {
      const { report } = bodyOf<{ report: MaintenanceReport }>(answer);
      return {
        id: report.passId,
        status: 'SUCCEEDED',
        startedAt: report.startedAt,
        ...(report.finishedAt !== undefined && { stoppedAt: report.finishedAt }),
        report,
      };
    }
    let run = bodyOf<MaintenanceRun>(answer);
    while (options.wait && run.status === 'RUNNING') {
      await sleep(pollIntervalMs, options.signal);
      run = await this.describe(run.id);
    }
    return run;
  }

  /**
   * A run by the id `run()` answered: its status and, once it succeeded, its report.
   * `MAINTENANCE_RUN_NOT_FOUND` for an id the server never gave.
   *
   * @example
   * const run = await tributary.admin.maintenance.describe(id);
   */
  async describe(id: string): Promise<MaintenanceRun> {
    return bodyOf(
      await this.#http.request({
        method: 'GET',
        path: `/v1/admin/maintenance/${segment(id)}`,
        idempotent: true,
      }),
    );
  }
}

/**
 * Administration under `/v1/admin`: `tributary.admin`.
 *
 * @example
 * await tributary.admin.maintenance.run({ wait: true });
 */
export interface Admin {
  /**
   * API keys; the same as `tributary.keys`.
   *
   * @example
   * const { key } = await tributary.admin.keys.create('billing');
   */
  readonly keys: ApiKeys;
  /**
   * ACLs; the same as `tributary.acls`.
   *
   * @example
   * const acls = await tributary.admin.acls.list();
   */
  readonly acls: Acls;
  /**
   * The maintenance workflow: retention that frees storage, the orphan sweep, topic purges.
   *
   * @example
   * const run = await tributary.admin.maintenance.run({ wait: true });
   */
  readonly maintenance: Maintenance;
}
