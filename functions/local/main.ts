import { once } from 'node:events';
import { resolve } from 'node:path';
import { createApp, deferInBackground } from '../app.ts';
import { readConfig } from '../config.ts';
import { hashApiKey } from '../core/auth/api-keys.ts';
import { readDispatchConfig } from '../dispatch/config.ts';
import { type LocalDispatch, startLocalDispatch, wakingDispatch } from '../dispatch/local.ts';
import { createDispatcher, targetPolicy } from '../dispatch/runtime.ts';
import { jsonLogger } from '../http/logger.ts';
import { noMetrics } from '../http/metrics.ts';
import { LocalMaintenance } from '../maintenance/service.ts';
import { defaultMaintenanceSettings } from '../maintenance/settings.ts';
import { openAwsStores } from '../stores/aws.ts';
import { openEmbeddedStores } from '../stores/embedded.ts';
import { createLocalServer } from './server.ts';

/** `npm start`: the REST API on a laptop, with embedded storage unless TRIBUTARY_STORE=aws. */
const config = readConfig();
if (config.auth && !config.adminKey) {
  throw new Error('TRIBUTARY_AUTH=on needs TRIBUTARY_ADMIN_KEY on the local server');
}
const stores =
  config.store === 'aws' ? await openAwsStores(config) : openEmbeddedStores(config.dataDir);
// Subscriptions run in this process: webhooks may call receivers on this machine.
const dispatchConfig = readDispatchConfig();
const localTargets = { allowLoopback: true };
let dispatch: LocalDispatch | undefined;
let maintenance: LocalMaintenance | undefined;
const handler = createApp({
  metadata: stores.metadata,
  segments: stores.segments,
  log: jsonLogger,
  cacheBytes: config.cacheBytes,
  defer: deferInBackground(jsonLogger),
  maintenance: (ctx) => {
    maintenance = new LocalMaintenance({
      ctx,
      settings: { ...defaultMaintenanceSettings, orphanGraceMs: config.orphanGraceMs },
      log: jsonLogger,
      metrics: noMetrics,
    });
    return maintenance;
  },
  ...(config.auth && config.adminKey && { auth: { adminKeyHash: hashApiKey(config.adminKey) } }),
  targets: targetPolicy(dispatchConfig, localTargets),
});
const server = createLocalServer(
  wakingDispatch(handler, { wake: (topic) => dispatch?.wake(topic) }),
  jsonLogger,
);
server.listen(config.port, config.host);
await once(server, 'listening');
// Retention that frees storage, the orphan sweep and topic purges, as the state machine does.
if (config.maintenanceIntervalMs > 0) maintenance?.start(config.maintenanceIntervalMs);

const address = server.address();
const port = typeof address === 'object' && address ? address.port : config.port;
const url = `http://${config.host}:${port}`;
if (dispatchConfig.enabled) {
  const dispatcher = createDispatcher({
    ...stores,
    config: dispatchConfig,
    rules: localTargets,
    log: jsonLogger,
    bootstrapServers: dispatchConfig.publicUrl ?? url,
    cacheBytes: config.cacheBytes,
  });
  dispatch = startLocalDispatch(dispatcher, { ...dispatchConfig, log: jsonLogger });
}
const where =
  config.store === 'aws'
    ? `DynamoDB table ${config.tableName}, S3 bucket ${config.bucketName}`
    : `embedded store in ${resolve(config.dataDir)}`;
const auth = config.auth ? ', auth on' : '';
const bearer = config.auth ? " -H 'authorization: Bearer $TRIBUTARY_ADMIN_KEY'" : '';
process.stdout.write(`Tributary listening on ${url} (${where}${auth})
Try:
  curl -s -X POST ${url}/v1/topics${bearer} -H 'content-type: application/json' -d '{"name": "orders", "partitions": 3}'
`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
    void Promise.all([dispatch?.stop(), maintenance?.stop()])
      .then(() => stores.close())
      .then(() => process.exit(0));
  });
}
