import type { CoreContext } from '../core/context.ts';
import { findTopic } from '../core/topics/topic.ts';
import { compactStep } from './compaction.ts';
import { releaseChunks } from './gc.ts';
import { mergeStep } from './merge.ts';
import { sweepOrphans } from './orphans.ts';
import { type PurgeWork, purgeTopic } from './purge.ts';
import { addCounts, countsFromJson, type MaintenanceCounts, noCounts } from './report.ts';
import { cleanPartition, type StepOutcome } from './retention.ts';
import type { MaintenanceSettings } from './settings.ts';

/**
 * A partition of a live topic: retention first (free what expired), then, for a compacted
 * topic, compaction, then the merge of small batches.
 */
export interface PartitionWork {
  readonly kind: 'partition';
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
  readonly phase: 'retention' | 'compaction' | 'merge';
}

/**
 * A live topic, once its partitions are cleaned: first release the chunks they listed
 * (gc.ts), then sweep chunks no commit ever referred to (orphans.ts).
 */
export interface TopicWork {
  readonly kind: 'topic';
  readonly topic: string;
  readonly topicId: string;
  readonly phase: 'chunks' | 'sweep';
}

/** One unit of a pass: a partition to clean, a topic to tidy, a deleted topic to purge. */
export type WorkItem = PartitionWork | TopicWork | PurgeWork;

/**
 * A work item on its way through the `work` step, which runs again while `more` is set
 * (a loop in the state machine's Map iterator), adding what each step did to `counts`.
 */
export interface WorkState {
  readonly item: WorkItem;
  readonly counts: MaintenanceCounts;
  readonly more: boolean;
  readonly steps: number;
  /** Set when the item failed after its retries: partial failure is data, not a crash. */
  readonly failed?: { readonly error: string };
}

/** Steps one item may take in a pass; what is left waits for the next pass. */
export const maxStepsPerItem = 1_000;

export const startWork = (item: WorkItem): WorkState => ({
  item,
  counts: noCounts(),
  more: true,
  steps: 0,
});

/** Runs one bounded step of the item's task. */
export async function workStep(
  ctx: CoreContext,
  settings: MaintenanceSettings,
  state: WorkState,
): Promise<WorkState> {
  let { item } = state;
  let outcome: StepOutcome;
  if (item.kind === 'purge') outcome = await purgeTopic(ctx, settings, item);
  else {
    const topic = await findTopic(ctx, item.topic);
    if (!topic || topic.id !== item.topicId) outcome = { more: false, counts: {} };
    else if (item.kind === 'partition') {
      if (item.partition >= topic.partitions) outcome = { more: false, counts: {} };
      else if (item.phase === 'retention')
        outcome = await cleanPartition(ctx, topic, item.partition);
      else if (item.phase === 'compaction') {
        outcome = await compactStep(ctx, topic, item.partition);
      } else outcome = await mergeStep(ctx, topic, item.partition);
      // This phase is done: on to the next, if any.
      const next = !outcome.more && nextPhase(item.phase, topic.config.cleanupPolicy);
      if (next) {
        item = { ...item, phase: next };
        outcome = { ...outcome, more: true };
      }
    } else if (item.phase === 'sweep') outcome = await sweepOrphans(ctx, settings, topic);
    else {
      outcome = await releaseChunks(ctx, topic);
      // Released what there was to release: on to the sweep, in this same step, so an idle
      // topic costs one step (one Lambda invocation, three state transitions) a pass.
      if (!outcome.more) {
        item = { ...item, phase: 'sweep' };
        const swept = await sweepOrphans(ctx, settings, topic);
        outcome = {
          more: swept.more,
          counts: addCounts(addCounts(noCounts(), outcome.counts), swept.counts),
        };
      }
    }
  }
  const steps = state.steps + 1;
  return {
    item,
    counts: addCounts(countsFromJson(state.counts), outcome.counts),
    more: outcome.more && steps < maxStepsPerItem,
    steps,
  };
}

function nextPhase(
  phase: PartitionWork['phase'],
  policy: 'delete' | 'compact' | 'compact,delete',
): PartitionWork['phase'] | undefined {
  if (phase === 'retention') return policy === 'delete' ? 'merge' : 'compaction';
  if (phase === 'compaction') return 'merge';
  return undefined;
}

/** What an item that failed reports: its counts so far, and why. */
export const failedWork = (state: WorkState, error: unknown): WorkState => ({
  ...state,
  more: false,
  failed: { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) },
});

export const describeItem = (item: WorkItem): string =>
  item.kind === 'partition'
    ? `${item.phase} of ${item.topic}-${item.partition}`
    : item.kind === 'topic'
      ? `${item.phase === 'chunks' ? 'release chunks of' : 'sweep'} ${item.topic}`
      : `purge ${item.topicId}`;
