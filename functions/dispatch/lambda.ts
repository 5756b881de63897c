import type { Context, DynamoDBStreamEvent, ScheduledEvent } from 'aws-lambda';
import { readConfig } from '../config.ts';
import { lambdaObservability } from '../observability.ts';
import { openAwsStores } from '../stores/aws.ts';
import { readDispatchConfig } from './config.ts';
import { powertoolsDispatchMetrics } from './lambda-metrics.ts';
import { createDispatcher } from './runtime.ts';
import { streamScope } from './stream.ts';

/**
 * The dispatcher Lambda. Woken two ways: by the table's DynamoDB Stream (a batch of
 * partition heads that advanced: a pass over those partitions), and by a schedule (a pass
 * over everything: retries that came due, a partition a crash left, a stream batch lost).
 * Built once per cold start.
 */
const config = readConfig();
if (config.store !== 'aws') {
  throw new Error('The dispatcher runs on the AWS store: set TRIBUTARY_STORE=aws');
}
const dispatchConfig = readDispatchConfig();
const { logger, metrics, log, publish } = lambdaObservability();
const stores = await openAwsStores(config);
const dispatcher = createDispatcher({
  ...stores,
  config: dispatchConfig,
  // In AWS a webhook never reaches loopback, private or link-local addresses.
  rules: { allowLoopback: false },
  log,
  bootstrapServers: dispatchConfig.publicUrl ?? '',
  cacheBytes: config.cacheBytes,
  metrics: powertoolsDispatchMetrics(metrics),
});

/** Time kept back from the function's timeout for the last writes and metrics. */
const reserveMs = 5_000;

export const handler = async (event: DynamoDBStreamEvent | ScheduledEvent, context?: Context) => {
  if (context) logger.addContext(context);
  const remaining = context?.getRemainingTimeInMillis() ?? 60_000;
  const scope = 'Records' in event ? streamScope(event) : ({ kind: 'all' } as const);
  try {
    await dispatcher.pass(scope, Date.now() + remaining - reserveMs);
  } finally {
    publish();
  }
};
