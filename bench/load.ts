/**
 * The load generator's jobs and results, and the handle the bench drives it through. The
 * generator runs in a worker thread (bench/load-worker.ts) so that building requests and
 * parsing responses does not share the server's event loop: produce, fetch and replay load,
 * single requests whose answers the bench reads (consumer group calls), and a consumer group
 * draining a topic.
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
  /**
   * Keep going until this much time has passed and `minRequests` were made, shared evenly
   * among the connections (with `durationMs` 0, exactly that many per partition)...
   */
  readonly durationMs: number;
  readonly minRequests: number;
  /** ...but never past this. */
  readonly maxDurationMs: number;
  /** One per connection: makes every request idempotent (a `producer` in its body). */
  readonly producers?: readonly ProducerSession[];
  /**
   * Records carry keys: record i of every request the key `key-<i % keys>`, so each request
   * writes the same keys again (what a compacted topic keeps the latest of). Absent: none.
   */
  readonly keys?: number;
  /**
   * Whether each answer must acknowledge every record with its offset (the default), or
   * any 200 will do: the plain node:http reference server answers no offsets.
   */
  readonly checkOffsets?: boolean;
}

/**
 * The reference for a durable produce: `writers` concurrent writers, each appending the body
 * a produce request of `batch` records would carry to a file of its own in `dir`, with one
 * fdatasync per append, as fast as they can; bounded as a {@link ProduceJob}.
 */
export interface AppendJob {
  readonly kind: 'append';
  readonly dir: string;
  readonly writers: number;
  readonly batch: number;
  readonly valueBytes: number;
  readonly durationMs: number;
  readonly minRequests: number;
  readonly maxDurationMs: number;
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

export type LoadJob = ProduceJob | FetchJob | ReplayJob | AppendJob;

/** One HTTP request of a {@link CallsJob}: a JSON body when given. */
export interface HttpCall {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly path: string;
  readonly body?: string;
}

/**
 * Send `requests` one after another over one keep-alive connection and answer every
 * response: for requests whose answers the bench needs (a member id, an assignment) or
 * whose storage calls it counts one at a time.
 */
export interface CallsJob {
  readonly kind: 'calls';
  readonly url: string;
  readonly requests: readonly HttpCall[];
}

export interface CallsResult {
  /** Per request, in order: from sending to the whole response body read. */
  readonly latenciesMs: readonly number[];
  readonly responses: readonly { readonly status: number; readonly text: string }[];
}

/**
 * A consumer group draining a topic: one connection per member, each polling `maxRecords`
 * at a time and committing what every poll returned before the next, heartbeating every
 * `heartbeatIntervalMs`, until it has read `records` (all its partitions hold).
 */
export interface ConsumeJob {
  readonly kind: 'consume';
  readonly url: string;
  readonly group: string;
  readonly members: readonly {
    readonly memberId: string;
    readonly generation: number;
    readonly records: number;
  }[];
  readonly maxRecords: number;
  readonly heartbeatIntervalMs: number;
  /** Stop early when this much time has passed. */
  readonly maxDurationMs: number;
}

export interface ConsumeResult {
  readonly records: number;
  /** From the first request sent to the last response read. */
  readonly elapsedMs: number;
  readonly pollLatenciesMs: readonly number[];
  /** Polls that returned no record (a member waiting for nothing: should stay near 0). */
  readonly emptyPolls: number;
  /** One per poll that returned records, accepted or not. */
  readonly commitLatenciesMs: readonly number[];
  /** Refused commits by error code (a rebalance or a conflict between commits). */
  readonly failedCommits: Readonly<Record<string, number>>;
  readonly heartbeatLatenciesMs: readonly number[];
}

/** What the worker answers, tagged by the kind of job. */
export type WorkerAnswer =
  | { readonly kind: 'load'; readonly result: LoadResult }
  | { readonly kind: 'calls'; readonly result: CallsResult }
  | { readonly kind: 'consume'; readonly result: ConsumeResult };

export type WorkerJob = LoadJob | CallsJob | ConsumeJob;

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
  /**
   * CPU time of this whole process while the job ran, in ms: every thread's, the load
   * generator's and an in-process server's (an emulator in a process of its own is not in it).
   */
  readonly cpuMs?: number;
}

export type LoadReply =
  | { readonly ok: true; readonly answer: WorkerAnswer }
  | { readonly ok: false; readonly error: string };

const isLoadReply = (value: unknown): value is LoadReply =>
  typeof value === 'object' && value !== null && 'ok' in value && typeof value.ok === 'boolean';

/** One worker thread running one job at a time. */
export class LoadGenerator {
  readonly #worker = new Worker(new URL('./load-worker.ts', import.meta.url));

  /** Produce, fetch, replay, or appends to files. */
  async run(job: LoadJob): Promise<LoadResult> {
    const before = process.cpuUsage();
    const answer = await this.#post(job);
    const { user, system } = process.cpuUsage(before);
    if (answer.kind !== 'load')
      throw new Error(`load worker answered ${answer.kind} to a load job`);
    return { ...answer.result, cpuMs: (user + system) / 1000 };
  }

  async calls(job: CallsJob): Promise<CallsResult> {
    const answer = await this.#post(job);
    if (answer.kind !== 'calls') throw new Error(`load worker answered ${answer.kind} to calls`);
    return answer.result;
  }

  async consume(job: ConsumeJob): Promise<ConsumeResult> {
    const answer = await this.#post(job);
    if (answer.kind !== 'consume')
      throw new Error(`load worker answered ${answer.kind} to consume`);
    return answer.result;
  }

  #post(job: WorkerJob): Promise<WorkerAnswer> {
    return new Promise((resolve, reject) => {
      const onMessage = (reply: unknown): void => {
        cleanup();
        if (!isLoadReply(reply)) reject(new Error('load worker sent an unexpected message'));
        else if (reply.ok) resolve(reply.answer);
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
