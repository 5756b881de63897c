import { createApp, deferBeforeResponse } from './app.ts';
import { readConfig } from './config.ts';
import { jsonLogger } from './http/logger.ts';
import { openAwsStores } from './stores/aws.ts';

/** The Lambda entry point behind API Gateway's HTTP API. Built once per cold start. */
const config = readConfig();
if (config.store !== 'aws')
  throw new Error('The Lambda handler runs on the AWS store: set TRIBUTARY_STORE=aws');
const stores = await openAwsStores(config);

export const handler = createApp({
  metadata: stores.metadata,
  segments: stores.segments,
  log: jsonLogger,
  cacheBytes: config.cacheBytes,
  defer: deferBeforeResponse(jsonLogger),
});
