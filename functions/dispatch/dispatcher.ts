import { randomUUID } from 'node:crypto';
import { topicKey } from '../core/keys.ts';
import type { Subscription } from '../core/subscriptions/subscription.ts';
import {
  allSubscriptions,
  finishDeletedSubscriptions,
  purgeTopicSubscriptions,
} from '../core/subscriptions/subscriptions.ts';
import { topicFromItem } from '../core/topics/topic.ts';
import { type PassFigures, subscriptionLabel } from './metrics.ts';
import { type DispatchDeps, leave, type StepResult, step, type Worker } from './step.ts';

/** Which partitions a pass looks at: all of every subscription, or those named. */
export type PassScope =
  | { readonly kind: 'all' }
  /** Partitions whose heads advanced, by topic id (a DynamoDB Stream batch). */
  | { readonly kind: 'partitions'; readonly partitions: ReadonlyMap<string, ReadonlySet<number>> }
  /** Every partition of the topics named (after a produce on the local server). */
  | { readonly kind: 'topics'; readonly names: ReadonlySet<string> };

export interface DispatcherOptions {
  /** Partitions delivered at once. */
  readonly concurrency: number;
  /** A worker sleeps through a backoff, a batching window or a lease this short; longer ends it. */
  readonly maxWaitMs: number;
}

/**
 * Runs passes: for each subscription partition in scope, a worker repeats {@link step} —
 * one batch in flight per partition, partitions in parallel — until the partition is caught
 * up, must wait longer than `maxWaitMs`, is held by another dispatcher, or the pass's
 * deadline comes (no delivery starts that could outlive it). A partition asked for while
 * its worker runs is not started twice: the running worker looks once more before it ends.
 */
export class Dispatcher {
  readonly #deps: DispatchDeps;
  readonly #options: DispatcherOptions;
  /** This dispatcher's name in leases (one per process or Lambda instance). */
  readonly #holder = randomUUID();
  readonly #running = new Map<string, { dirty: boolean; done: Promise<void> }>();
  #stopping = false;

  constructor(deps: DispatchDeps, options: DispatcherOptions) {
    this.#deps = deps;
    this.#options = options;
  }

  /** Workers end at their next step; passes then end. */
  stop(): void {
    this.#stopping = true;
  }

  /** Runs one pass over `scope`; resolves when every worker it started has ended. */
  async pass(scope: PassScope, deadline: number): Promise<PassFigures[]> {
    const { ctx } = this.#deps;
    if (scope.kind === 'all') await finishDeletedSubscriptions(ctx);
    const topicIds = scope.kind === 'partitions' ? scope.partitions.keys() : undefined;
    let subs = await allSubscriptions(ctx, topicIds);
    if (scope.kind === 'topics') subs = subs.filter((s) => scope.names.has(s.topic));
    const live = await this.#liveTopics(subs);
    const workers: Worker[] = [];
    for (const sub of subs) {
      const partitions = live.get(sub.topicId);
      if (partitions === undefined) {
        // Its topic was deleted: the subscription stops for good; remove what it left.
        await purgeTopicSubscriptions(ctx, sub.topicId);
        continue;
      }
      if (!sub.enabled) continue;
      const wanted =
        scope.kind === 'partitions' ? (scope.partitions.get(sub.topicId) ?? new Set()) : undefined;
      for (let partition = 0; partition < partitions; partition++) {
        if (wanted && !wanted.has(partition)) continue;
        workers.push(this.#worker(sub, partition));
      }
    }
    const figures = new Map<string, { iteratorAgeMs: number; waiting: number }>();
    const queue = [...workers];
    const run = async () => {
      for (let worker = queue.shift(); worker; worker = queue.shift()) {
        const result = await this.#run(worker, deadline);
        const label = subscriptionLabel(worker.sub);
        const figure = figures.get(label) ?? { iteratorAgeMs: 0, waiting: 0 };
        figure.iteratorAgeMs = Math.max(figure.iteratorAgeMs, worker.iteratorAgeMs);
        if (result === 'waiting') figure.waiting++;
        figures.set(label, figure);
      }
    };
    await Promise.all(Array.from({ length: this.#options.concurrency }, run));
    const report = [...figures].map(([subscription, f]) => ({ subscription, ...f }));
    this.#deps.metrics.pass(report);
    return report;
  }

  /** Partition counts of the subscriptions' topics that still exist, by topic id. */
  async #liveTopics(subs: readonly Subscription[]): Promise<Map<string, number>> {
    const names = [...new Set(subs.map((s) => s.topic))];
    const items = await this.#deps.ctx.metadata.getMany(names.map(topicKey));
    const live = new Map<string, number>();
    for (const item of items) {
      const topic = item && topicFromItem(item);
      if (topic) live.set(topic.id, topic.partitions);
    }
    return live;
  }

  #worker(sub: Subscription, partition: number): Worker {
    return {
      sub,
      partition,
      holder: this.#holder,
      held: undefined,
      iteratorAgeMs: 0,
    };
  }

  /**
   * Steps one partition until it has nothing to do now; or, when its worker already runs
   * in this dispatcher, marks it to look again and waits for it.
   */
  async #run(worker: Worker, deadline: number): Promise<'done' | 'waiting'> {
    const id = `${worker.sub.id}#${worker.partition}`;
    const running = this.#running.get(id);
    if (running) {
      running.dirty = true;
      await running.done;
      return 'done';
    }
    const entry = { dirty: false, done: Promise.resolve() };
    let outcome: 'done' | 'waiting' = 'done';
    entry.done = (async () => {
      try {
        outcome = await this.#loop(worker, deadline, entry);
      } finally {
        this.#running.delete(id);
      }
    })();
    this.#running.set(id, entry);
    await entry.done;
    return outcome;
  }

  async #loop(
    worker: Worker,
    deadline: number,
    entry: { dirty: boolean },
  ): Promise<'done' | 'waiting'> {
    try {
      return await this.#steps(worker, deadline, entry);
    } finally {
      await leave(this.#deps, worker).catch((error: unknown) => {
        this.#deps.log.error('could not release a subscription lease', {
          subscription: subscriptionLabel(worker.sub),
          partition: worker.partition,
          error,
        });
      });
    }
  }

  async #steps(
    worker: Worker,
    deadline: number,
    entry: { dirty: boolean },
  ): Promise<'done' | 'waiting'> {
    const deps = this.#deps;
    let failures = 0;
    // No delivery starts unless it can finish before the deadline.
    while (!this.#stopping && deps.ctx.now() + deps.deliveryTimeoutMs < deadline) {
      let result: StepResult;
      try {
        result = await step(deps, worker);
        failures = 0;
      } catch (error: unknown) {
        // Storage trouble, most likely: the cursor is as it was; try again shortly.
        deps.log.error('dispatch step failed', {
          subscription: subscriptionLabel(worker.sub),
          partition: worker.partition,
          error,
        });
        failures++;
        const wait = Math.min(this.#options.maxWaitMs, 100 * 2 ** failures);
        if (failures > 5) return 'done';
        await deps.sleep(wait);
        continue;
      }
      switch (result.kind) {
        case 'progress':
          continue;
        case 'idle':
          if (!entry.dirty) return 'done';
          entry.dirty = false;
          continue;
        case 'later': {
          const wait = result.at - deps.ctx.now();
          if (wait > this.#options.maxWaitMs || deps.ctx.now() + wait >= deadline) {
            return result.waiting ? 'waiting' : 'done';
          }
          await deps.sleep(Math.max(0, wait));
          continue;
        }
        case 'stopped':
        case 'fenced':
          return 'done';
      }
    }
    return 'done';
  }
}
