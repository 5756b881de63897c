import { createApp, deferBeforeResponse } from './app.ts';
import { readConfig } from './config.ts';
import { jsonLogger } from './http/logger.ts';
import { openAwsStores } from './stores.ts';

/** The Lambda entry point behind API Gateway's HTTP API. Built once per cold start. */
const config = readConfig();
const stores = await openAwsStores(config);

export const handler = createApp({
  metadata: stores.metadata,
  segments: stores.segments,
  log: jsonLogger,
  cacheBytes: config.cacheBytes,
  defer: deferBeforeResponse(jsonLogger),
});
