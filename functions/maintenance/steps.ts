import { z } from 'zod';
import type { CoreContext } from '../core/context.ts';
import type { Logger } from '../http/logger.ts';
import type { Metrics } from '../http/metrics.ts';
import { beginPass, finishPass, type Page, planPage } from './pass.ts';
import { countsFromJson, type MaintenanceReport } from './report.ts';
import type { MaintenanceSettings } from './settings.ts';
import { failedWork, type WorkItem, type WorkState, workStep } from './work.ts';

/**
 * The steps of a maintenance pass, by the names the state machine's tasks use
 * (infra/maintenance.ts) and the local runner calls (run-pass.ts):
 *
 *   begin   {}                              → { passId }
 *   plan    { passId, results? }            → { passId, items, done }
 *   work    WorkState                       → WorkState (again while `more`)
 *   failed  { state, error }                → WorkState marked failed (a Catch's target)
 *   finish  { passId }                      → { report }
 */
export const stepNames = ['begin', 'plan', 'work', 'failed', 'finish'] as const;
export type StepName = (typeof stepNames)[number];

export interface MaintenanceDeps {
  readonly ctx: CoreContext;
  readonly settings: MaintenanceSettings;
  readonly log: Logger;
  readonly metrics: Metrics;
}

const workItem: z.ZodType<WorkItem> = z.union([
  z.object({
    kind: z.literal('partition'),
    topic: z.string(),
    topicId: z.string(),
    partition: z.number().int().min(0),
    phase: z.enum(['retention', 'compaction', 'merge']),
  }),
  z.object({
    kind: z.literal('topic'),
    topic: z.string(),
    topicId: z.string(),
    phase: z.enum(['chunks', 'sweep']),
  }),
  z.object({ kind: z.literal('purge'), topicId: z.string() }),
]);

const counts = z.record(z.string(), z.number());

const workState = z.object({
  item: workItem,
  counts: counts.optional().default({}),
  more: z.boolean().optional().default(true),
  steps: z.number().int().min(0).optional().default(0),
  failed: z.object({ error: z.string() }).optional(),
});

const inputs = {
  begin: z.object({}).passthrough(),
  plan: z.object({ passId: z.string(), results: z.array(workState).optional() }),
  work: workState,
  failed: z.object({ state: workState, error: z.unknown() }),
  finish: z.object({ passId: z.string() }),
} satisfies Record<StepName, z.ZodType>;

export interface StepOutputs {
  begin: { passId: string };
  plan: Page;
  work: WorkState;
  failed: WorkState;
  finish: { report: MaintenanceReport };
}

/** Runs one step on its JSON input; a malformed input is a bug in the caller and throws. */
export async function runStep<S extends StepName>(
  deps: MaintenanceDeps,
  step: S,
  input: unknown,
): Promise<StepOutputs[S]> {
  const { ctx, settings } = deps;
  const parsed = inputs[step].safeParse(input ?? {});
  if (!parsed.success) {
    throw new Error(`maintenance step '${step}' got a malformed input: ${parsed.error.message}`);
  }
  const data = parsed.data;
  const run = async (): Promise<StepOutputs[StepName]> => {
    switch (step) {
      case 'begin':
        return beginPass(ctx);
      case 'plan': {
        const { passId, results } = data as z.output<typeof inputs.plan>;
        return planPage(ctx, settings, { passId, results: (results ?? []).map(asWork) });
      }
      case 'work':
        return workStep(ctx, settings, asWork(data as z.output<typeof workState>));
      case 'failed': {
        const { state, error } = data as z.output<typeof inputs.failed>;
        deps.log.error('maintenance work failed', { item: state.item, error });
        return failedWork(asWork(state), causeOf(error));
      }
      default: {
        const { report, first } = await finishPass(ctx, data as z.output<typeof inputs.finish>);
        if (first) publish(deps.metrics, report);
        return { report };
      }
    }
  };
  return (await run()) as StepOutputs[S];
}

const asWork = (state: z.output<typeof workState>): WorkState => ({
  item: state.item,
  counts: countsFromJson(state.counts),
  more: state.more,
  steps: state.steps,
  ...(state.failed && { failed: state.failed }),
});

/**
 * A Catch hands over Step Functions' error object, `{ Error, Cause }`, where a Lambda
 * function's error is `Error: <errorType>` and `Cause: '{"errorType", "errorMessage",
 * "trace"}'` as JSON; the local runner an Error. Either way the report keeps
 * `<type>: <message>`, the same on both.
 */
function causeOf(error: unknown): unknown {
  if (error && typeof error === 'object' && 'Error' in error) {
    const { Error: name, Cause: cause } = error as { Error?: unknown; Cause?: unknown };
    const message = lambdaErrorMessage(cause) ?? String(cause ?? '');
    return Object.assign(new Error(message.slice(0, 1000)), { name: String(name) });
  }
  return error;
}

function lambdaErrorMessage(cause: unknown): string | undefined {
  if (typeof cause !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(cause);
    return parsed && typeof parsed === 'object' && 'errorMessage' in parsed
      ? String(parsed.errorMessage)
      : undefined;
  } catch {
    return undefined;
  }
}

function publish(metrics: Metrics, report: MaintenanceReport): void {
  metrics.count('MaintenanceBytesFreed', report.bytesFreed + report.orphanBytesFreed);
  metrics.count('MaintenanceChunksDeleted', report.chunksDeleted + report.purgedChunks);
  metrics.count('MaintenanceIndexEntriesDeleted', report.indexEntriesDeleted);
  metrics.count('MaintenanceOrphansDeleted', report.orphansDeleted);
  metrics.count('MaintenanceTopicsPurged', report.topicsPurged);
  metrics.count('MaintenancePartitionsBehindRetention', report.partitionsBehindRetention);
  metrics.count('MaintenanceFailures', report.failures);
  metrics.count('MaintenancePassDurationMs', report.durationMs ?? 0);
}
