import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionPk } from '../../functions/core/keys.ts';
import { fetchAll } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';
import { chunksOf, objectsUnder } from '../support/storage.ts';

/** Replay a failure with TRIBUTARY_STRESS_SEED=<the seed it printed>. */
const seed = Number(process.env.TRIBUTARY_STRESS_SEED ?? 20_261_202);
const minute = 60_000;
const grace = 10 * minute;

/** mulberry32: small, seeded, good enough to pick actions. */
function random(state: number) {
  let a = state;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface TopicModel {
  topicId: string;
  readonly partitions: number;
  /** Every acknowledged record: partition → offset → value. */
  readonly records: Map<number, Map<number, string>>;
  /** Values of produces sent and not yet answered: a concurrent read may see them first. */
  readonly inFlight: Set<string>;
  /** Records a read returned before their produce was answered: partition → offset → value. */
  readonly early: Map<number, Map<number, string>>;
  /** While retention is off: each partition's log start when it was switched off. */
  frozen: Map<number, number> | undefined;
}

/**
 * Producers, fetchers and a group member work on topics whose retention is raised,
 * lowered and switched off, some topics are deleted and created again, the clock runs,
 * and maintenance passes run all the while from two API instances over one store, often
 * overlapping. Throughout, every record a fetch or poll returns is the one acknowledged at
 * its offset, byte for byte; at every quiet point every acknowledged record at or above the
 * log start reads back, and switching retention off never lost a record the log still
 * held. At the end, with everything expired and deleted, the store holds nothing at all.
 */
describe.each(backends)('maintenance under load ($name)', (backend) => {
  let a: RunningServer;
  let b: RunningServer;
  let now = Date.UTC(2026, 6, 1);
  const rand = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
  const steps = backend.name === 'embedded' ? 240 : 120;

  beforeAll(async () => {
    a = await startServer(backend, { now: () => now });
    b = await startServer(backend, { stores: a.stores, now: () => now });
  });
  afterAll(async () => {
    await b.stop();
    await a.close();
  });

  it(`keeps every record retention keeps, and in the end nothing (seed ${seed})`, async () => {
    const topics = new Map<string, TopicModel>();
    const everUsed = new Set<string>();
    let unique = 0;
    const server = () => (rand() < 0.5 ? a : b);

    const create = async (name: string, partitions: number) => {
      const config = { 'retention.ms': String(pick([2, 5, 30]) * minute) };
      const created = await call(server().url, 'POST', '/v1/topics', { name, partitions, config });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      everUsed.add(created.body.topicId);
      topics.set(name, {
        topicId: created.body.topicId,
        partitions,
        records: new Map(Array.from({ length: partitions }, (_, p) => [p, new Map()])),
        inFlight: new Set(),
        early: new Map(),
        frozen: undefined,
      });
    };
    /**
     * Checks records a read returned against what was acknowledged. A read running alongside
     * a produce may return its records before the produce is answered: such a record must be
     * one the produce sent, and its acknowledgement must later name the offset it was read at.
     */
    const same = (name: string, partition: number, read: { offset: number; value: unknown }[]) => {
      const model = topics.get(name);
      const acked = model?.records.get(partition);
      for (const r of read) {
        const where = `${name}-${partition}@${r.offset} (seed ${seed})`;
        const value = acked?.get(r.offset);
        if (value === undefined && typeof r.value === 'string' && model?.inFlight.has(r.value)) {
          const early = model.early.get(partition) ?? new Map<number, string>();
          model.early.set(partition, early.set(r.offset, r.value));
          continue;
        }
        expect(r.value, where).toBe(value);
      }
    };

    const actions = {
      produce: async (name: string) => {
        const model = topics.get(name);
        if (!model) return;
        const partitions = [
          ...new Set([
            pick([0, 1, 2, 3]) % model.partitions,
            pick([0, 1, 2, 3]) % model.partitions,
          ]),
        ];
        const records = partitions.flatMap((partition) =>
          Array.from({ length: 1 + Math.floor(rand() * 4) }, () => ({
            partition,
            value: `${name}:${partition}:${unique++}:${'x'.repeat(Math.floor(rand() * 300))}`,
          })),
        );
        for (const r of records) model.inFlight.add(r.value);
        const response = await call(server().url, 'POST', `/v1/topics/${name}/records`, {
          records,
        });
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        response.body.offsets.forEach((ack: { partition: number; offset: number }, i: number) => {
          const value = records[i]?.value ?? '';
          model.records.get(ack.partition)?.set(ack.offset, value);
          model.inFlight.delete(value);
        });
        // Whatever a read saw early sits at the offset the produce acknowledged.
        for (const [partition, early] of model.early) {
          for (const [offset, value] of early) {
            const acked = model.records.get(partition)?.get(offset);
            if (acked === undefined) continue;
            expect(value, `${name}-${partition}@${offset} read early (seed ${seed})`).toBe(acked);
            early.delete(offset);
          }
        }
      },
      fetch: async (name: string) => {
        const model = topics.get(name);
        if (!model) return;
        const partition = Math.floor(rand() * model.partitions);
        const high = model.records.get(partition)?.size ?? 0;
        const offset = Math.floor(rand() * (high + 1));
        const response = await call(
          server().url,
          'GET',
          `/v1/topics/${name}/partitions/${partition}/records?offset=${offset}&maxRecords=50`,
        );
        if (response.status === 416) return; // retention passed it
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        same(name, partition, response.body.records);
      },
      retune: async (name: string) => {
        const model = topics.get(name);
        if (!model) return;
        const patch = {
          'retention.ms': String(pick([1, 3, 10, 60]) * minute),
          'retention.bytes': pick(['-1', '1500', '6000']),
        };
        const response = await call(server().url, 'PATCH', `/v1/topics/${name}/config`, patch);
        expect(response.status).toBe(200);
        model.frozen = undefined;
      },
      freeze: async (name: string) => {
        const model = topics.get(name);
        if (!model) return;
        const response = await call(server().url, 'PATCH', `/v1/topics/${name}/config`, {
          'retention.ms': '-1',
          'retention.bytes': '-1',
        });
        expect(response.status).toBe(200);
        // The log start as of the switch: nothing from it on may ever go.
        model.frozen = new Map(
          response.body.partitions.map((p: { partition: number; logStartOffset: number }) => [
            p.partition,
            p.logStartOffset,
          ]),
        );
      },
      recreate: async (name: string) => {
        const model = topics.get(name);
        if (!model) return;
        expect((await call(server().url, 'DELETE', `/v1/topics/${name}`)).status).toBe(204);
        topics.delete(name);
        await create(name, model.partitions);
      },
    };

    // One member of a group reads 'grouped' throughout, from its cursor, committing.
    const member = (
      await call(a.url, 'POST', '/v1/groups/stressed/members', {
        topics: ['grouped'],
        autoOffsetReset: 'earliest',
        sessionTimeoutMs: 1_800_000,
      })
    ).body;
    let cursor = '';
    /** The clock runs by minutes: the member heartbeats as it runs, as a client would. */
    const tick = async (ms: number) => {
      now += ms;
      const beat = await call(
        server().url,
        'POST',
        `/v1/groups/stressed/members/${member.memberId}/heartbeat`,
      );
      expect(beat.status, JSON.stringify(beat.body)).toBe(200);
    };
    const poll = async () => {
      const response = await call(
        server().url,
        'GET',
        `/v1/groups/stressed/members/${member.memberId}/records?maxRecords=40${cursor && `&cursor=${cursor}`}`,
      );
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      cursor = response.body.cursor;
      const byPartition = new Map<number, { offset: number; value: unknown }[]>();
      for (const r of response.body.records) {
        byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r]);
      }
      for (const [partition, read] of byPartition) same('grouped', partition, read);
    };

    /** At a quiet point: every acknowledged record from each log start reads back. */
    const everythingKept = async () => {
      for (const [name, model] of topics) {
        for (const [partition, early] of model.early) {
          expect([...early], `${name}-${partition} read early, never acknowledged`).toEqual([]);
        }
        const described = (await call(a.url, 'GET', `/v1/topics/${name}`)).body;
        for (const p of described.partitions) {
          if (model.frozen) {
            expect(p.logStartOffset, `${name}-${p.partition} frozen (seed ${seed})`).toBe(
              model.frozen.get(p.partition),
            );
          }
          const read = await fetchAll(a.url, name, p.partition, p.logStartOffset);
          expect(read.map((r) => r.offset)).toEqual(
            Array.from(
              { length: p.highWatermark - p.logStartOffset },
              (_, i) => p.logStartOffset + i,
            ),
          );
          same(name, p.partition, read);
        }
      }
    };

    for (const [name, partitions] of [
      ['grouped', 3],
      ['churned', 2],
      ['steady', 4],
    ] as const) {
      await create(name, partitions);
    }

    const passes: Promise<unknown>[] = [];
    for (let step = 0; step < steps; step++) {
      const names = [...topics.keys()];
      const roll = rand();
      if (roll < 0.03) {
        // Alone, so no request is left wondering which incarnation it wrote to.
        await Promise.all(passes.splice(0));
        await actions.recreate(pick(['churned', 'steady']));
        continue;
      }
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < 3; i++) {
        const r = rand();
        const name = pick(names);
        if (r < 0.4) batch.push(actions.produce(name));
        else if (r < 0.6) batch.push(actions.fetch(name));
        else if (r < 0.7) batch.push(poll());
        else if (r < 0.76) batch.push(actions.retune(name));
        else if (r < 0.79) batch.push(actions.freeze(name));
        else if (r < 0.9) {
          // A pass, left running: it overlaps whatever comes next, passes included.
          passes.push(
            call(server().url, 'POST', '/v1/admin/maintenance').then((response) => {
              expect(response.status, JSON.stringify(response.body)).toBe(200);
              expect(response.body.report.failures, JSON.stringify(response.body.report)).toBe(0);
            }),
          );
        } else batch.push(tick(Math.floor(rand() * 3 * minute)));
      }
      await Promise.all(batch);
      if (step % 40 === 39) {
        await Promise.all(passes.splice(0));
        await everythingKept();
      }
    }
    await Promise.all(passes.splice(0));
    await everythingKept();

    // Everything expires: each log empties, and so does its storage.
    for (const name of topics.keys()) {
      await call(a.url, 'PATCH', `/v1/topics/${name}/config`, {
        'retention.ms': '1',
        'retention.bytes': '-1',
      });
    }
    now += grace + minute;
    for (let i = 0; i < 2; i++) await call(a.url, 'POST', '/v1/admin/maintenance');
    for (const [name, model] of topics) {
      const described = (await call(a.url, 'GET', `/v1/topics/${name}`)).body;
      for (const p of described.partitions) {
        expect(p.logStartOffset).toBe(p.highWatermark);
        expect(p.sizeBytes).toBe(0);
      }
      expect(await chunksOf(a.stores, model.topicId), name).toEqual([]);
    }
    // Every topic deleted: nothing of any of them is left anywhere.
    for (const name of topics.keys()) await call(a.url, 'DELETE', `/v1/topics/${name}`);
    await call(a.url, 'DELETE', '/v1/groups/stressed/members/'.concat(member.memberId));
    now += grace + minute;
    for (let i = 0; i < 2; i++) await call(b.url, 'POST', '/v1/admin/maintenance');
    expect(await objectsUnder(a.stores, '')).toEqual([]);
    for (const topicId of everUsed) {
      for (let p = 0; p < 4; p++) {
        expect(await a.stores.metadata.query(partitionPk(topicId, p))).toEqual([]);
      }
    }
    expect(await a.stores.metadata.query('deleted-topics')).toEqual([]);
  }, 300_000);
});
