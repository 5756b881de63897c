import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FetchedRecord, fetchAll } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { Random } from '../support/random.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';
import { expectStoredExactly } from '../support/storage.ts';

/** Replay a failure with TRIBUTARY_STRESS_SEED=<the seed it printed>. */
const seed = Number(process.env.TRIBUTARY_STRESS_SEED ?? 20_261_203);
const minute = 60_000;

/** What was acknowledged at an offset: its key, its value (null: a tombstone), and when. */
interface Written {
  readonly key: string;
  readonly value: string | null;
  readonly at: number;
}

interface TableModel {
  readonly name: string;
  readonly partitions: number;
  readonly deleteRetentionMs: number;
  /** partition → offset → what was acknowledged there. */
  readonly log: Map<number, Map<number, Written>>;
}

/**
 * Compacted topics against a model of what was written: producers write keyed records and
 * tombstones (and requests with a keyless record, which are refused whole), fetchers and a
 * group member read, the clock runs, and maintenance passes compact and merge from two API
 * instances over one store, overlapping each other and everything else. Throughout, every
 * record read is the one acknowledged at its offset. At every quiet point, reading each
 * partition from its log start gives a subsequence of what was written, at the original
 * offsets, holding every record from the cleaned-up-to offset on, the latest record of
 * every key, and every tombstone younger than delete.retention.ms. At the end, compacting
 * everything leaves exactly the latest record of each key, tombstones go once their
 * horizon passes, and storage holds exactly what the log refers to.
 */
describe.each(backends)('compaction against a model of the log ($name)', (backend) => {
  let a: RunningServer;
  let b: RunningServer;
  let now = Date.UTC(2026, 9, 1);
  const r = new Random(seed);
  const steps = backend.name === 'embedded' ? 240 : 120;

  beforeAll(async () => {
    a = await startServer(backend, { now: () => now });
    b = await startServer(backend, { stores: a.stores, now: () => now });
  });
  afterAll(async () => {
    await b.stop();
    await a.close();
  });

  it(`keeps what Kafka's compaction keeps, and nothing else once it is done (seed ${seed})`, async () => {
    const server = () => (r.chance(0.5) ? a : b);
    const tables: TableModel[] = [];
    const create = async (
      name: string,
      partitions: number,
      deleteRetentionMs: number,
      config: Record<string, string>,
    ) => {
      const response = await call(a.url, 'POST', '/v1/topics', {
        name,
        partitions,
        config: {
          ...config,
          'delete.retention.ms': String(deleteRetentionMs),
          'min.cleanable.dirty.ratio': String(r.pick([0.1, 0.3, 0.5])),
        },
      });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      tables.push({
        name,
        partitions,
        deleteRetentionMs,
        log: new Map(Array.from({ length: partitions }, (_, p) => [p, new Map()])),
      });
    };
    await create('table', 2, 4 * minute, { 'cleanup.policy': 'compact' });
    await create('lagged', 1, 2 * minute, {
      'cleanup.policy': 'compact,delete',
      'min.compaction.lag.ms': String(3 * minute),
      'retention.ms': String(45 * minute),
    });
    const table = (name: string) => tables.find((t) => t.name === name) as TableModel;
    let unique = 0;
    const refused = new Set<string>();
    /**
     * Records of produces still in flight, as `[key, value]` text: a concurrent read may see
     * them before the produce's answer arrives (a commit is visible once it is durable, which
     * can be before its request is answered).
     */
    const inFlight = new Map<string, number>();

    /** Every record a read returned is the one acknowledged at its offset, in offset order. */
    const asWritten = (
      model: TableModel,
      partition: number,
      read: readonly { offset: number; key: unknown; value: unknown }[],
    ) => {
      const log = model.log.get(partition);
      let last = -1;
      for (const record of read) {
        const where = `${model.name}-${partition}@${record.offset} (seed ${seed})`;
        expect(record.offset, where).toBeGreaterThan(last);
        last = record.offset;
        const written = log?.get(record.offset);
        if (!written) {
          expect(inFlight.has(JSON.stringify([record.key, record.value])), where).toBe(true);
          continue;
        }
        expect([record.key, record.value], where).toEqual([written?.key, written?.value]);
        expect(refused.has(String(record.value)), where).toBe(false);
      }
    };

    const produce = async () => {
      const model = r.pick(tables);
      const records = Array.from({ length: 1 + r.int(4) }, () => {
        const key = `k${r.int(10)}`;
        const value = r.chance(0.2) ? null : `${key}:${unique++}:${'x'.repeat(r.int(200))}`;
        return { key, value };
      });
      const at = now;
      const pending = records.map((record) => JSON.stringify([record.key, record.value]));
      for (const text of pending) inFlight.set(text, (inFlight.get(text) ?? 0) + 1);
      try {
        const response = await call(server().url, 'POST', `/v1/topics/${model.name}/records`, {
          records,
        });
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        response.body.offsets.forEach((ack: { partition: number; offset: number }, i: number) => {
          const record = records[i];
          if (record) model.log.get(ack.partition)?.set(ack.offset, { ...record, at });
        });
      } finally {
        // Only once the model holds them, so no read finds them in neither.
        for (const text of pending) {
          const left = (inFlight.get(text) ?? 1) - 1;
          if (left === 0) inFlight.delete(text);
          else inFlight.set(text, left);
        }
      }
    };
    const refuse = async () => {
      const model = r.pick(tables);
      const value = `refused:${unique++}`;
      refused.add(value);
      const response = await call(server().url, 'POST', `/v1/topics/${model.name}/records`, {
        records: [{ key: 'k0', value }, { value: `${value}:keyless` }],
      });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('INVALID_RECORD');
    };
    const fetchSome = async () => {
      const model = r.pick(tables);
      const partition = r.int(model.partitions);
      const offset = r.int((model.log.get(partition)?.size ?? 0) + 1);
      const response = await call(
        server().url,
        'GET',
        `/v1/topics/${model.name}/partitions/${partition}/records?offset=${offset}&maxRecords=${1 + r.int(30)}`,
      );
      if (response.status === 416) return; // below the log start of 'lagged'
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      asWritten(model, partition, response.body.records);
    };
    const joined = await call(a.url, 'POST', '/v1/groups/table-readers/members', {
      topics: ['table'],
      autoOffsetReset: 'earliest',
      sessionTimeoutMs: 1_800_000,
    });
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    const member = joined.body;
    let cursor = '';
    const poll = async () => {
      const response = await call(
        server().url,
        'GET',
        `/v1/groups/table-readers/members/${member.memberId}/records?maxRecords=25${cursor && `&cursor=${cursor}`}`,
      );
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      cursor = response.body.cursor;
      for (const partition of [0, 1]) {
        asWritten(
          table('table'),
          partition,
          response.body.records.filter((rec: { partition: number }) => rec.partition === partition),
        );
      }
    };

    /** The clock runs; the member heartbeats as it runs, as a client would. */
    const tick = async (ms: number) => {
      now += ms;
      const beat = await call(
        server().url,
        'POST',
        `/v1/groups/table-readers/members/${member.memberId}/heartbeat`,
      );
      expect(beat.status, JSON.stringify(beat.body)).toBe(200);
    };

    const passes: Promise<unknown>[] = [];
    const pass = () =>
      call(server().url, 'POST', '/v1/admin/maintenance').then((response) => {
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        expect(response.body.report.failures, JSON.stringify(response.body.report)).toBe(0);
      });

    /** Reads each partition whole and holds it to what compaction promises. */
    const promisesKept = async () => {
      for (const model of tables) {
        const described = (await call(a.url, 'GET', `/v1/topics/${model.name}`)).body;
        for (const p of described.partitions) {
          const log = model.log.get(p.partition) ?? new Map<number, Written>();
          const read = await fetchAll(a.url, model.name, p.partition, p.logStartOffset);
          asWritten(model, p.partition, read);
          const present = new Map(read.map((rec: FetchedRecord) => [rec.offset, rec]));
          const where = (offset: number) => `${model.name}-${p.partition}@${offset} (seed ${seed})`;
          // The head, not yet compacted, is whole.
          for (const [offset] of log) {
            if (offset >= Math.max(p.cleanedUpTo, p.logStartOffset)) {
              expect(present.has(offset), `${where(offset)} in the head`).toBe(true);
            }
          }
          // The latest record of every key stays, a tombstone at least delete.retention.ms.
          for (const [offset, written] of latestByKey(log, p.logStartOffset)) {
            if (written.value !== null || now < written.at + model.deleteRetentionMs) {
              expect(present.has(offset), `${where(offset)}, latest of ${written.key}`).toBe(true);
            }
          }
        }
      }
    };

    for (let step = 0; step < steps; step++) {
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < 3; i++) {
        r.weighted<void>([
          [40, () => void batch.push(produce())],
          [4, () => void batch.push(refuse())],
          [18, () => void batch.push(fetchSome())],
          [10, () => void batch.push(poll())],
          [12, () => void passes.push(pass())],
          [16, () => void batch.push(tick(r.int(90_000)))],
        ]);
      }
      await Promise.all(batch);
      if (step % 30 === 29) {
        await Promise.all(passes.splice(0));
        await promisesKept();
      }
    }
    await Promise.all(passes.splice(0));
    await promisesKept();

    // Compaction made eager: every record compacted as soon as a pass comes.
    for (const model of tables) {
      const response = await call(a.url, 'PATCH', `/v1/topics/${model.name}/config`, {
        'min.cleanable.dirty.ratio': '0',
        'min.compaction.lag.ms': '0',
      });
      expect(response.status).toBe(200);
    }
    now += minute;
    await pass();
    await promisesKept();
    // Past every tombstone's horizon, only the latest value of each key is left.
    now += 5 * minute;
    await pass();
    await pass();
    for (const model of tables) {
      const described = (await call(a.url, 'GET', `/v1/topics/${model.name}`)).body;
      for (const p of described.partitions) {
        const log = model.log.get(p.partition) ?? new Map<number, Written>();
        const expected = [...latestByKey(log, p.logStartOffset)]
          .filter(([, written]) => written.value !== null)
          .map(([offset, written]) => [offset, written.key, written.value])
          .sort((x, y) => Number(x[0]) - Number(y[0]));
        const read = await fetchAll(a.url, model.name, p.partition, p.logStartOffset);
        expect(
          read.map((rec) => [rec.offset, rec.key, rec.value]),
          `${model.name}-${p.partition} (seed ${seed})`,
        ).toEqual(expected);
        expect(p.cleanedUpTo).toBe(p.highWatermark);
        expect(p.dirtyRatio).toBe(0);
      }
    }
    // Once readers have had their grace, storage holds what the log refers to, and no more
    // (the first pass may still merge the last batches; the next ones free what it replaced).
    for (let i = 0; i < 3; i++) {
      now += 10 * minute;
      await pass();
    }
    for (const model of tables) await expectStoredExactly(a, model.name);
  }, 300_000);
});

/** Each key's latest record at or above `from`, by offset. */
function latestByKey(log: ReadonlyMap<number, Written>, from: number): Map<number, Written> {
  const latest = new Map<string, [number, Written]>();
  for (const [offset, written] of log) {
    const known = latest.get(written.key);
    if (offset >= from && (!known || known[0] < offset)) latest.set(written.key, [offset, written]);
  }
  return new Map([...latest.values()]);
}
