/**
 * The load generator's jobs and results, and the handle the bench drives it through. The
 * generator runs in a worker thread (bench/load-worker.ts) so that building requests and
 * parsing responses does not share the server's event loop.
 */

import { Worker } from 'node:worker_threads';

/**
 * An idempotent producer as a connection uses it: `sequence` is the sequence of the next
 * record it sends (each request advances it by the request's record count).
 */
export interface ProducerSession {
  readonly id: number;
  readonly epoch: number;
  readonly sequence: number;
}

/**
 * Produce `batch` records per request to `partitions[i]` over connection i — as the
 * idempotent producer `producers[i]` when given.
 */
export interface ProduceJob {
  readonly kind: 'produce';
  readonly url: string;
  readonly topic: string;
  /** One partition per connection: each connection is the only writer of its partition. */
  readonly partitions: readonly number[];
  readonly batch: number;
  /** Bytes of each record's value as stored (a JSON string of valueBytes - 2 characters). */
  readonly valueBytes: number;
  /** Keep going until this much time has passed and `minRequests` were made... */
  readonly durationMs: number;
  readonly minRequests: number;
  /** ...but never past this. */
  readonly maxDurationMs: number;
  /** One per connection: makes every request idempotent (a `producer` in its body). */
  readonly producers?: readonly ProducerSession[];
}

/**
 * Send `requests` times the request that committed `batch` records from `producer.sequence`
 * at `baseOffset` of `partition`: a retry of a batch already committed, which the server
 * must answer with the original offsets.
 */
export interface ReplayJob {
  readonly kind: 'replay';
  readonly url: string;
  readonly topic: string;
  readonly partition: number;
  readonly batch: number;
  readonly valueBytes: number;
  readonly producer: ProducerSession;
  readonly baseOffset: number;
  readonly requests: number;
}

/** Read each partition from `from` up to `end`, `batch` records per request, once. */
export interface FetchJob {
  readonly kind: 'fetch';
  readonly url: string;
  readonly topic: string;
  readonly partitions: readonly {
    readonly partition: number;
    readonly from: number;
    readonly end: number;
  }[];
  readonly batch: number;
  readonly valueBytes: number;
  /** Stop early when this much time has passed. */
  readonly maxDurationMs: number;
}

export type LoadJob = ProduceJob | FetchJob | ReplayJob;

export interface LoadResult {
  readonly requests: number;
  readonly records: number;
  /** Bytes of record values moved. */
  readonly valueBytes: number;
  /** From the first request sent to the last response read. */
  readonly elapsedMs: number;
  /** Per request: from sending to the whole response body read. */
  readonly latenciesMs: readonly number[];
  /** Per partition: the offset after the last record produced or read (0 if none). */
  readonly ends: readonly { readonly partition: number; readonly end: number }[];
  /** An idempotent produce's producers after the run, their sequences advanced. */
  readonly producers?: readonly ProducerSession[];
}

export type LoadReply =
  | { readonly ok: true; readonly result: LoadResult }
  | { readonly ok: false; readonly error: string };

const isLoadReply = (value: unknown): value is LoadReply =>
  typeof value === 'object' && value !== null && 'ok' in value && typeof value.ok === 'boolean';

/** One worker thread running one job at a time. */
export class LoadGenerator {
  readonly #worker = new Worker(new URL('./load-worker.ts', import.meta.url));

  run(job: LoadJob): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      const onMessage = (reply: unknown): void => {
        cleanup();
        if (!isLoadReply(reply)) reject(new Error('load worker sent an unexpected message'));
        else if (reply.ok) resolve(reply.result);
        else reject(new Error(`load worker: ${reply.error}`));
      };
      const onError = (error: Error): void => {
        cleanup();
        reject(error);
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(new Error(`load worker exited with code ${code}`));
      };
      const cleanup = (): void => {
        this.#worker.off('message', onMessage);
        this.#worker.off('error', onError);
        this.#worker.off('exit', onExit);
      };
      this.#worker.on('message', onMessage);
      this.#worker.on('error', onError);
      this.#worker.on('exit', onExit);
      this.#worker.postMessage(job);
    });
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}
