import { once } from 'node:events';
import { resolve } from 'node:path';
import { createApp, deferInBackground } from '../app.ts';
import { type Config, readConfig } from '../config.ts';
import { hashApiKey } from '../core/auth/api-keys.ts';
import { readDispatchConfig } from '../dispatch/config.ts';
import { type LocalDispatch, startLocalDispatch, wakingDispatch } from '../dispatch/local.ts';
import { createDispatcher, targetPolicy } from '../dispatch/runtime.ts';
import { jsonLoggerAt, type Logger } from '../http/logger.ts';
import { noMetrics } from '../http/metrics.ts';
import { LocalMaintenance } from '../maintenance/service.ts';
import { defaultMaintenanceSettings } from '../maintenance/settings.ts';
import { openAwsStores } from '../stores/aws.ts';
import { openEmbeddedStores } from '../stores/embedded.ts';
import type { Stores } from '../stores/stores.ts';
import { createLocalServer } from './server.ts';

/**
 * `npm start`: the REST API on a laptop, with embedded storage unless TRIBUTARY_STORE=aws.
 * What stops it from starting is said in one line, with what to do, and exit code 1.
 */
// A reader of the log that goes away (`npm start | head`, a test that stopped reading)
// fails the next write with EPIPE: the server goes on serving, its log unread.
process.stdout.on('error', () => undefined);

let config: Config | undefined;
try {
  config = readConfig();
  await serve(config, jsonLoggerAt(config.logLevel));
} catch (error: unknown) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`Tributary could not start: ${message}\n`);
  if (config?.logLevel === 'DEBUG' || config?.logLevel === 'TRACE') {
    process.stderr.write(`${error instanceof Error ? error.stack : ''}\n`);
  }
  process.exit(1);
}

async function serve(config: Config, log: Logger): Promise<void> {
  if (config.auth && !config.adminKey) {
    throw new Error(
      'the local server reads the admin key from TRIBUTARY_ADMIN_KEY, not from a secret: set TRIBUTARY_ADMIN_KEY instead of TRIBUTARY_ADMIN_KEY_SECRET_ARN.',
    );
  }
  const stores: Stores =
    config.store === 'aws' ? await openAwsStores(config) : openEmbeddedStores(config.dataDir);
  // Subscriptions run in this process: webhooks may call receivers on this machine.
  const dispatchConfig = readDispatchConfig();
  const localTargets = { allowLoopback: true };
  let dispatch: LocalDispatch | undefined;
  let maintenance: LocalMaintenance | undefined;
  const handler = createApp({
    metadata: stores.metadata,
    segments: stores.segments,
    log,
    cacheBytes: config.cacheBytes,
    defer: deferInBackground(log),
    // A laptop serves pages from anywhere (localhost:5173, file://…) unless told otherwise.
    corsOrigins: config.corsOrigins ?? ['*'],
    maintenance: (ctx) => {
      maintenance = new LocalMaintenance({
        ctx,
        settings: { ...defaultMaintenanceSettings, orphanGraceMs: config.orphanGraceMs },
        log,
        metrics: noMetrics,
      });
      return maintenance;
    },
    ...(config.auth && config.adminKey && { auth: { adminKeyHash: hashApiKey(config.adminKey) } }),
    targets: targetPolicy(dispatchConfig, localTargets),
  });
  const server = createLocalServer(
    wakingDispatch(handler, { wake: (topic) => dispatch?.wake(topic) }),
    log,
  );
  server.listen(config.port, config.host);
  try {
    await once(server, 'listening');
  } catch (error: unknown) {
    await stores.close();
    throw listenFailure(error, config);
  }
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
      log,
      bootstrapServers: dispatchConfig.publicUrl ?? url,
      cacheBytes: config.cacheBytes,
    });
    dispatch = startLocalDispatch(dispatcher, { ...dispatchConfig, log });
  }
  const where =
    config.store === 'aws'
      ? `DynamoDB table ${config.tableName}, S3 bucket ${config.bucketName}`
      : `embedded store in ${resolve(config.dataDir)}`;
  const auth = config.auth ? ', auth on' : '';
  // Double quotes, so the shell puts the key in when the line is pasted.
  const bearer = config.auth ? ' -H "authorization: Bearer $TRIBUTARY_ADMIN_KEY"' : '';
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
}

/** Why the server could not listen, and what to do about it. */
function listenFailure(error: unknown, config: Config): Error {
  const code = error instanceof Error && 'code' in error ? error.code : undefined;
  const at = `${config.host}:${config.port}`;
  if (code === 'EADDRINUSE') {
    return new Error(
      `${at} is already in use (another Tributary?). Stop that server, or choose another port: PORT=${config.port + 1} npm start, or tributary dev --port ${config.port + 1} (0 picks a free one).`,
    );
  }
  if (code === 'EADDRNOTAVAIL' || code === 'EACCES') {
    return new Error(
      `cannot listen on ${at} (${code}): set HOST to an address of this machine (127.0.0.1 by default) and PORT to one you may use (above 1023).`,
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}
