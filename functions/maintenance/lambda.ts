import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { readConfig } from '../config.ts';
import { lambdaObservability } from '../observability.ts';
import { openAwsStores } from '../stores/aws.ts';
import { defaultMaintenanceSettings } from './settings.ts';
import { type MaintenanceDeps, runStep, stepNames } from './steps.ts';

/**
 * The maintenance Lambda: every Task of the state machine (infra/maintenance.ts) invokes it
 * with `{ "step": <name>, "input": <the step's JSON input> }` and takes the step's output as
 * its result. Built once per cold start; a step that throws fails the Task, whose Retry and
 * Catch decide what happens next.
 */
const config = readConfig();
if (config.store !== 'aws') {
  throw new Error('The maintenance function runs on the AWS store: set TRIBUTARY_STORE=aws');
}
const { logger, log, counters, publish } = lambdaObservability();
const stores = await openAwsStores(config);
const deps: MaintenanceDeps = {
  ctx: {
    metadata: stores.metadata,
    segments: stores.segments,
    now: Date.now,
    newId: randomUUID,
  },
  settings: { ...defaultMaintenanceSettings, orphanGraceMs: config.orphanGraceMs },
  log,
  metrics: counters,
};

const stepEvent = z.strictObject({ step: z.enum(stepNames), input: z.unknown() });

export const handler = async (event: unknown, context?: Context): Promise<unknown> => {
  if (context) logger.addContext(context);
  try {
    const parsed = stepEvent.safeParse(event);
    // Only the state machine invokes this function: anything else is a bug in its definition.
    if (!parsed.success) throw new Error(`not a maintenance step: ${parsed.error.message}`);
    return await runStep(deps, parsed.data.step, parsed.data.input);
  } finally {
    // Only `finish` counts anything; the other steps publish nothing.
    publish();
  }
};
