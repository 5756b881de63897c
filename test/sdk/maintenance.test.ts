import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreContext } from '../../functions/core/context.ts';
import { silentLogger } from '../../functions/http/logger.ts';
import { noMetrics } from '../../functions/http/metrics.ts';
import { beginPass } from '../../functions/maintenance/pass.ts';
import { runPass } from '../../functions/maintenance/run-pass.ts';
import { LocalMaintenance, type MaintenanceService } from '../../functions/maintenance/service.ts';
import { defaultMaintenanceSettings } from '../../functions/maintenance/settings.ts';
import { Tributary } from '../../sdk/src/index.ts';
import { backends, embedded } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';
import { failure } from './failure.ts';

const minute = 60_000;

describe.each(backends)('SDK maintenance ($name)', (backend) => {
  let server: RunningServer;
  let tributary: Tributary;
  let now = Date.UTC(2026, 3, 1);

  beforeAll(async () => {
    server = await startServer(backend, { now: () => now });
    tributary = new Tributary({ url: server.url });
  });
  afterAll(() => server.close());

  it('runs a pass on a local server and answers with its report, then describes it by id', async () => {
    await tributary.topics.create({ name: 'short', config: { 'retention.ms': String(minute) } });
    const producer = tributary.producer();
    await producer.send({ topic: 'short', records: [{ value: 'a' }, { value: 'b' }] });
    await producer.close();
    const size = (await tributary.topics.describe('short')).partitions[0]?.sizeBytes ?? 0;
    expect(size).toBeGreaterThan(0);
    now += 2 * minute;

    const run = await tributary.admin.maintenance.run();
    expect(run).toMatchObject({ status: 'SUCCEEDED' });
    expect(run.report).toMatchObject({ indexEntriesDeleted: 1, failures: 0 });
    expect(run.report?.bytesFreed).toBe(size);
    expect((await tributary.topics.describe('short')).partitions[0]?.sizeBytes).toBe(0);
    expect(await tributary.admin.maintenance.describe(run.id)).toEqual(run);
    expect(await failure(tributary.admin.maintenance.describe('no-such-run'))).toMatchObject({
      code: 'MAINTENANCE_RUN_NOT_FOUND',
      status: 404,
    });
  });
});

/**
 * Runs passes in the background and answers at once with the run's id, as the deployed
 * stack's state machine does.
 */
function backgroundMaintenance(ctx: CoreContext): MaintenanceService {
  const deps = { ctx, settings: defaultMaintenanceSettings, log: silentLogger, metrics: noMetrics };
  const local = new LocalMaintenance(deps);
  return {
    run: async () => {
      const { passId } = await beginPass(ctx);
      void runPass(deps);
      return { kind: 'started', run: { id: passId, status: 'RUNNING', startedAt: ctx.now() } };
    },
    describe: (id) => local.describe(id),
  };
}

describe('SDK maintenance against a deployed-style API', () => {
  let server: RunningServer;
  let tributary: Tributary;

  beforeAll(async () => {
    server = await startServer(embedded, { maintenance: backgroundMaintenance });
    tributary = new Tributary({ url: server.url });
  });
  afterAll(() => server.close());

  it('starts a run and, with wait, looks it up until it ends', async () => {
    const started = await tributary.admin.maintenance.run();
    expect(started.status).toBe('RUNNING');
    const waited = await tributary.admin.maintenance.run({ wait: true, pollIntervalMs: 10 });
    expect(waited.status).toBe('SUCCEEDED');
    expect(waited.report).toMatchObject({ passId: waited.id, failures: 0 });
  });
});
