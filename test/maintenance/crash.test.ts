import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSegmentStore } from '../../functions/adapters/embedded/file-segment-store.ts';
import { openSqliteMetadataStore } from '../../functions/adapters/embedded/sqlite-metadata-store.ts';
import { chunkKey, deletedTopicKey, partitionPk } from '../../functions/core/keys.ts';
import type { MetadataStore } from '../../functions/core/ports/metadata-store.ts';
import type { SegmentStore } from '../../functions/core/ports/segment-store.ts';
import { silentLogger } from '../../functions/http/logger.ts';
import { noMetrics } from '../../functions/http/metrics.ts';
import { runPass } from '../../functions/maintenance/run-pass.ts';
import { defaultMaintenanceSettings } from '../../functions/maintenance/settings.ts';
import { chunkSized, createTopic, fetchAll, produce } from '../support/api.ts';
import { backends, type OpenBackend, type StorageBackend } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';
import { chunksOf, expectStoredExactly, partitionItems } from '../support/storage.ts';

const minute = 60_000;

/** What a killed process does after it died: nothing; every call of it fails. */
class Killed extends Error {
  override readonly name = 'Killed';
}

/**
 * The stores as a process that is killed at its n-th write sees them: the n-th write (a
 * transaction, a batch delete of items, a delete of objects) lands or not (`lands`), and
 * every call from then on fails.
 */
function killedAt(stores: OpenBackend, n: number, lands: boolean) {
  let writes = 0;
  let dead = false;
  const live = <T>(call: () => Promise<T>): Promise<T> =>
    dead ? Promise.reject(new Killed()) : call();
  const write = async <T>(call: () => Promise<T>): Promise<T> => {
    if (dead) throw new Killed();
    if (++writes < n) return call();
    dead = true;
    if (lands) await call();
    throw new Killed();
  };
  const metadata: MetadataStore = {
    get: (key) => live(() => stores.metadata.get(key)),
    getMany: (keys) => live(() => stores.metadata.getMany(keys)),
    query: (pk, options) => live(() => stores.metadata.query(pk, options)),
    transact: (ops) => write(() => stores.metadata.transact(ops)),
    deleteMany: (keys) => write(() => stores.metadata.deleteMany(keys)),
  };
  const segments: SegmentStore = {
    put: (key, body) => write(() => stores.segments.put(key, body)),
    get: (key, range) => live(() => stores.segments.get(key, range)),
    list: (prefix, cursor, after) => live(() => stores.segments.list(prefix, cursor, after)),
    delete: (keys) => write(() => stores.segments.delete(keys)),
  };
  return { metadata, segments, writes: () => writes, died: () => dead };
}

/**
 * Expiring shared chunks, partitions that let go of a chunk apart, a deleted topic, an
 * orphan, and a table to compact: every kind of deletion and rewrite a pass makes ('sized'
 * and the table write batches small enough to be held in their entries). Two passes run
 * while everything is live — the first merges the small batches into new chunks, the
 * second's orphan sweep judges those chunks live — so by the time the data expires, only
 * the release of chunks can delete them, and a leak there cannot hide behind the sweep.
 */
async function scenario(server: RunningServer, clock: { now: number }) {
  const pass = () => call(server.url, 'POST', '/v1/admin/maintenance');
  await createTopic(server.url, 'expiring', 3, { 'retention.ms': String(30 * minute) });
  for (let i = 0; i < 4; i++) {
    await produce(
      server.url,
      'expiring',
      [0, 1, 2].map((partition) => ({ value: chunkSized(`old ${i}`), partition })),
    );
  }
  await produce(server.url, 'expiring', [{ value: chunkSized('old alone'), partition: 1 }]);
  await createTopic(server.url, 'sized', 2);
  for (let i = 0; i < 3; i++) {
    await produce(server.url, 'sized', [
      { value: 'a'.repeat(300), partition: 0 },
      { value: `small ${i}`, partition: 1 },
    ]);
  }
  for (let i = 0; i < 4; i++) {
    await produce(server.url, 'sized', [{ value: 'b'.repeat(300), partition: 0 }]);
  }
  // A table: versions of four keys, and a tombstone whose horizon the first pass sets.
  await createTopic(server.url, 'table', 2, {
    'cleanup.policy': 'compact',
    'delete.retention.ms': String(15 * minute),
  });
  for (let version = 0; version < 4; version++) {
    await produce(server.url, 'table', tableVersion(version));
  }
  await produce(server.url, 'table', [{ key: 'k3', value: null, partition: 1 }]);
  await createTopic(server.url, 'doomed', 2);
  await produce(server.url, 'doomed', [
    { value: 1, partition: 0 },
    { value: 2, partition: 1 },
  ]);
  clock.now += 10 * minute;
  await produce(
    server.url,
    'expiring',
    [0, 1, 2].map((partition) => ({ value: chunkSized('kept'), partition })),
  );
  clock.now += 90_000;
  await pass();
  clock.now += 10.5 * minute;
  await pass();

  // Then: the table gets new versions, to compact and merge, and its tombstone's horizon
  // passes; partition 0 of 'sized' lets go of its oldest batches, 'doomed' is deleted, a
  // commit that never lands leaves an orphan, and 'expiring' ages past its retention.
  for (let version = 4; version < 8; version++) {
    await produce(server.url, 'table', tableVersion(version).slice(0, 3));
  }
  await call(server.url, 'PATCH', '/v1/topics/sized/config', { 'retention.bytes': '1200' });
  const doomed = (await call(server.url, 'GET', '/v1/topics/doomed')).body.topicId;
  await call(server.url, 'DELETE', '/v1/topics/doomed');
  const expiringId = (await call(server.url, 'GET', '/v1/topics/expiring')).body.topicId;
  await server.stores.segments.put(
    chunkKey(expiringId, clock.now, randomUUID()),
    new Uint8Array(64),
  );
  clock.now += 10.5 * minute;
  return { doomed };
}

/** A version of every key of the table, keys k0 and k1 in partition 0, k2 and k3 in 1. */
const tableVersion = (version: number) =>
  ['k0', 'k2', 'k1', 'k3'].map((key, i) => ({
    key,
    value: `${key} v${version}`,
    partition: i % 2,
  }));

/** What the log must hold, read through the API: each partition's retained records. */
async function retained(server: RunningServer) {
  const result: Record<string, unknown[]> = {};
  for (const [topic, partitions] of [
    ['expiring', 3],
    ['sized', 2],
    ['table', 2],
  ] as const) {
    for (let p = 0; p < partitions; p++) {
      const { logStartOffset } = (await call(server.url, 'GET', `/v1/topics/${topic}`)).body
        .partitions[p];
      result[`${topic}-${p}`] = [
        logStartOffset,
        await fetchAll(server.url, topic, p, logStartOffset),
      ];
    }
  }
  return result;
}

/**
 * Storage exactly as the log needs it: no index entry below a log start, no chunk that no
 * entry refers to, none missing that one does; no pending chunk; the deleted topic gone.
 */
async function exactlyWhatIsNeeded(server: RunningServer, doomed: string) {
  for (const topic of ['expiring', 'sized', 'table']) await expectStoredExactly(server, topic);
  for (const p of [0, 1]) expect(await partitionItems(server.stores, doomed, p)).toEqual([]);
  expect(await chunksOf(server.stores, doomed)).toEqual([]);
  expect(await server.stores.metadata.get(deletedTopicKey(doomed))).toBeUndefined();
  expect(await server.stores.metadata.query(partitionPk(doomed, 0))).toEqual([]);
}

/**
 * At any moment, a compacted table holds records as written, at their offsets, with the
 * latest value of every key: what a round part done may leave.
 */
function aValidCompaction(table: unknown[], expected: unknown[]) {
  const [, read] = table as [number, { offset: number; key: string; value: unknown }[]];
  const [, latest] = expected as [number, { offset: number; key: string; value: unknown }[]];
  const offsets = read.map((r) => r.offset);
  expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
  for (const record of latest) {
    if (record.value !== null) expect(read).toContainEqual(record);
  }
}

interface Prepared {
  readonly server: RunningServer;
  readonly clock: { now: number };
  readonly doomed: string;
}

/**
 * A fresh copy of the scenario, ready for a pass. The embedded store's files are copied
 * from one built once (the scenario's produce requests are most of the time this file
 * takes); on the emulators the scenario is played again.
 */
async function preparer(backend: StorageBackend): Promise<{
  fresh: () => Promise<Prepared>;
  done: () => Promise<void>;
}> {
  const start = Date.UTC(2026, 5, 1);
  if (backend.name !== 'embedded') {
    return {
      fresh: async () => {
        const clock = { now: start };
        const server = await startServer(backend, { now: () => clock.now });
        return { server, clock, ...(await scenario(server, clock)) };
      },
      done: async () => {},
    };
  }
  const template = await mkdtemp(join(tmpdir(), 'tributary-crash-'));
  const clock = { now: start };
  const stores = embeddedAt(template);
  const server = await startServer(backend, { stores, now: () => clock.now });
  const { doomed } = await scenario(server, clock);
  await server.stop();
  stores.metadata.close();
  const end = clock.now;
  return {
    fresh: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tributary-crash-'));
      await cp(template, dir, { recursive: true });
      const copy = { now: end };
      const stores = embeddedAt(dir);
      return {
        server: await startServer(backend, { stores, now: () => copy.now }),
        clock: copy,
        doomed,
      };
    },
    done: () => rm(template, { recursive: true, force: true }),
  };
}

/** The embedded stores over a directory of our own, removed on close. */
function embeddedAt(dir: string): OpenBackend & { readonly metadata: { close(): void } } {
  const metadata = openSqliteMetadataStore(join(dir, 'metadata.db'));
  return {
    metadata,
    segments: new FileSegmentStore(join(dir, 'segments')),
    close: async () => {
      metadata.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe.each(backends)('a maintenance pass killed at any write ($name)', (backend) => {
  /**
   * Kills tried: after each write on the embedded store, after a spread of them on the
   * emulators, and before the first. (Killed before write n is the state of killed after
   * write n - 1, so these are all the states a kill can leave.)
   */
  const kills = (writes: number) => [
    { n: 1, lands: false },
    ...(backend.name === 'embedded'
      ? Array.from({ length: writes }, (_, i) => i + 1)
      : [1, 3, 6, 10, 15, 21, 28, 36].filter((n) => n <= writes)
    ).map((n) => ({ n, lands: true })),
  ];

  let prepared: Awaited<ReturnType<typeof preparer>>;
  let expected: Record<string, unknown[]>;
  let writes: number;

  const passBy = (
    stores: { metadata: MetadataStore; segments: SegmentStore },
    clock: { now: number },
  ) =>
    runPass({
      ctx: { ...stores, now: () => clock.now, newId: randomUUID },
      settings: defaultMaintenanceSettings,
      log: silentLogger,
      metrics: noMetrics,
    });

  beforeAll(async () => {
    prepared = await preparer(backend);
    // A pass nothing interrupts: what every killed one must come to, and its writes.
    const { server, clock } = await prepared.fresh();
    try {
      const counting = killedAt(server.stores, Number.POSITIVE_INFINITY, true);
      await passBy(counting, clock);
      writes = counting.writes();
      expected = await retained(server);
    } finally {
      await server.close();
    }
  });
  afterAll(() => prepared.done());

  it('is killed at a write that lands, or that does not, and the next passes leave exactly what is needed', async () => {
    expect(writes).toBeGreaterThan(20);
    expect(Object.values(expected).flat()).not.toEqual([]);
    for (const { n, lands } of kills(writes)) {
      {
        const { server, clock, doomed } = await prepared.fresh();
        try {
          const dying = killedAt(server.stores, n, lands);
          await expect(passBy(dying, clock)).rejects.toThrow();
          expect(dying.died()).toBe(true);
          // Nothing the log still needs was lost at the moment of the kill; the table may be
          // part compacted.
          const { 'table-0': table0, 'table-1': table1, ...rest } = await retained(server);
          const { 'table-0': latest0, 'table-1': latest1, ...expectedRest } = expected;
          expect(rest, `killed at write ${n}, landed: ${lands}`).toEqual(expectedRest);
          aValidCompaction(table0 ?? [], latest0 ?? []);
          aValidCompaction(table1 ?? [], latest1 ?? []);
          // Another process resumes the pass the dead one left, then runs a whole one.
          for (let pass = 0; pass < 2; pass++) {
            const response = await call(server.url, 'POST', '/v1/admin/maintenance');
            expect(response.body.report.failures).toBe(0);
          }
          expect(await retained(server)).toEqual(expected);
          // Once readers have had their grace, what rewrites replaced is released.
          clock.now += 6 * minute;
          await call(server.url, 'POST', '/v1/admin/maintenance');
          expect(await retained(server)).toEqual(expected);
          await exactlyWhatIsNeeded(server, doomed);
        } finally {
          await server.close();
        }
      }
    }
  }, 600_000);
});
