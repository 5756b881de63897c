import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { join, type MemberView } from '../support/groups.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';

const partitions = 4;
const records = 5000;
const sessionTimeoutMs = 10_000;

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sim {
  readonly memberId: string;
  state: 'live' | 'crashed' | 'gone';
  generation: number;
  /** When it stopped heartbeating (crashed) or left. */
  since: number;
  /** The cursor of the last poll answer it received. */
  cursor?: string;
  /** Offsets read but not yet committed, with the ownership they were read under. */
  readonly pending: Map<number, { offset: number; ownedSince: number }>;
}

/**
 * Members join, heartbeat, poll, commit, leave and crash in random order while a topic
 * is consumed; some poll answers are lost, and some commits wait until after a rebalance.
 * Throughout: no partition has two owners in any generation, committed offsets never go
 * backwards, every commit by a fenced member is refused; at the end every record below
 * the committed offsets was delivered (in an answer that arrived) at least once.
 */
describe.each(backends)('a consumer group under churn ($name)', (backend) => {
  let server: RunningServer;
  let now = Date.UTC(2026, 6, 1);
  beforeAll(async () => {
    server = await startServer(backend, { now: () => now });
    await createTopic(server.url, 'churn', partitions, { 'retention.ms': '-1' });
    for (let i = 0; i < records; i += 500) {
      await produce(
        server.url,
        'churn',
        Array.from({ length: 500 }, (_, j) => ({ value: i + j, partition: (i + j) % partitions })),
      );
    }
  });
  afterAll(() => server.close());

  it('keeps ownership exclusive, commits monotonic and fenced, and delivers everything at least once', async () => {
    const rand = random(20261123);
    const pick = <T>(items: readonly T[]) => items[Math.floor(rand() * items.length)];
    const members: Sim[] = [];
    const owners = new Map<number, Map<number, string>>(); // generation → partition → member
    const committed = new Map<number, number>();
    const delivered = new Set<string>();
    let fencedAttempts = 0;

    const observe = (view: MemberView) => {
      const byPartition = owners.get(view.generation) ?? new Map<number, string>();
      owners.set(view.generation, byPartition);
      for (const { partitions: owned } of view.assignment) {
        for (const p of owned) {
          const owner = byPartition.get(p) ?? view.memberId;
          expect(owner, `partition ${p} has two owners in generation ${view.generation}`).toBe(
            view.memberId,
          );
          byPartition.set(p, view.memberId);
        }
      }
    };
    const live = () => members.filter((m) => m.state === 'live');

    const actions = {
      join: async () => {
        if (live().length >= 8) return;
        const view = await join(server.url, 'churners', {
          topics: ['churn'],
          sessionTimeoutMs,
          autoOffsetReset: 'earliest',
        });
        observe(view);
        members.push({
          memberId: view.memberId,
          state: 'live',
          generation: view.generation,
          since: now,
          pending: new Map(),
        });
      },
      heartbeat: async (m: Sim) => {
        const response = await call(
          server.url,
          'POST',
          `/v1/groups/churners/members/${m.memberId}/heartbeat`,
        );
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        observe(response.body);
        m.generation = response.body.generation;
      },
      consume: async (m: Sim) => {
        const cursor = m.cursor && rand() < 0.8 ? `&cursor=${m.cursor}` : '';
        const polled = await call(
          server.url,
          'GET',
          `/v1/groups/churners/members/${m.memberId}/records?maxRecords=250${cursor}`,
        );
        expect(polled.status, JSON.stringify(polled.body)).toBe(200);
        observe(polled.body);
        // The answer is lost on its way: the member never sees these records.
        if (rand() < 0.1) return;
        m.cursor = polled.body.cursor;
        m.generation = polled.body.generation;
        const since = new Map<number, number>();
        for (const a of polled.body.assignment as MemberView['assignment']) {
          a.partitions.forEach((p, i) => {
            since.set(p, a.ownedSince[i] ?? 0);
          });
        }
        for (const r of polled.body.records as { partition: number; offset: number }[]) {
          delivered.add(`${r.partition}:${r.offset}`);
          const held = m.pending.get(r.partition);
          m.pending.set(r.partition, {
            offset: Math.max(held?.offset ?? 0, r.offset + 1),
            ownedSince: since.get(r.partition) ?? 0,
          });
        }
        // Most commit at once; some only later, perhaps after the partition moved.
        if (rand() < 0.75) await actions.commit(m);
      },
      commit: async (m: Sim) => {
        if (m.pending.size === 0) return;
        // Some clients name the ownership they read under, as the SDK does; some don't.
        const named = rand() < 0.5;
        const offsets = [...m.pending].map(([partition, { offset, ownedSince }]) => ({
          topic: 'churn',
          partition,
          offset,
          ...(named && { ownedSince }),
        }));
        m.pending.clear();
        const response = await call(server.url, 'POST', '/v1/groups/churners/offsets', {
          memberId: m.memberId,
          generation: m.generation,
          offsets,
        });
        if (response.status === 200) {
          for (const { partition, offset } of offsets) {
            expect(offset, `commit on ${partition} went backwards`).toBeGreaterThanOrEqual(
              committed.get(partition) ?? 0,
            );
            committed.set(partition, offset);
          }
        } else {
          // The group moved on since the poll: the commit is fenced, or would go back.
          expect(['ILLEGAL_GENERATION', 'PARTITION_NOT_ASSIGNED', 'STALE_COMMIT']).toContain(
            response.body.error.code,
          );
        }
      },
      leave: async (m: Sim) => {
        expect(
          (await call(server.url, 'DELETE', `/v1/groups/churners/members/${m.memberId}`)).status,
        ).toBe(204);
        m.state = 'gone';
        m.since = now;
      },
      crash: async (m: Sim) => {
        m.state = 'crashed';
        m.since = now;
      },
      zombieCommit: async () => {
        const fenced = members.filter(
          (m) => m.state === 'gone' || (m.state === 'crashed' && now - m.since > sessionTimeoutMs),
        );
        const zombie = pick(fenced);
        if (!zombie) return;
        const response = await call(server.url, 'POST', '/v1/groups/churners/offsets', {
          memberId: zombie.memberId,
          generation: zombie.generation,
          offsets: [{ topic: 'churn', partition: Math.floor(rand() * partitions), offset: 0 }],
        });
        expect(
          response.status,
          `a fenced member's commit was accepted: ${JSON.stringify(response.body)}`,
        ).not.toBe(200);
        fencedAttempts++;
      },
      tick: async () => {
        for (const m of live()) await actions.heartbeat(m);
        now += 4_000;
      },
    };

    await actions.join();
    for (let step = 0; step < 120; step++) {
      const roll = rand();
      if (roll < 0.1) await actions.join();
      else if (roll < 0.15) await actions.tick();
      else if (roll < 0.2) await actions.zombieCommit();
      else {
        // A few members act at once, as separate processes would.
        const acting = [...new Set([pick(live()), pick(live()), pick(live())])].filter(
          (m): m is Sim => !!m,
        );
        await Promise.all(
          acting.map((m) => {
            const r = rand();
            if (r < 0.55) return actions.consume(m);
            if (r < 0.6) return actions.commit(m);
            if (r < 0.85) return actions.heartbeat(m);
            if (r < 0.93) return live().length > 1 ? actions.leave(m) : actions.consume(m);
            return live().length > 1 ? actions.crash(m) : actions.consume(m);
          }),
        );
      }
      if (live().length === 0) await actions.join();
    }

    // Let crashed members lapse while live ones keep heartbeating, then drain the topic
    // with whoever is left.
    for (let t = 0; t < 3; t++) await actions.tick();
    await actions.zombieCommit();
    for (
      let round = 0;
      round < 200 && [...committed.values()].reduce((a, b) => a + b, 0) < records;
      round++
    ) {
      for (const m of live()) {
        await actions.heartbeat(m);
        await actions.consume(m);
        await actions.commit(m);
      }
    }

    const final = (await call(server.url, 'GET', '/v1/groups/churners/offsets')).body.offsets;
    expect(final.map((o: { committedOffset: number }) => o.committedOffset)).toEqual(
      Array.from({ length: partitions }, (_, p) => committed.get(p)),
    );
    expect(final.every((o: { lag: number }) => o.lag === 0)).toBe(true);
    for (let p = 0; p < partitions; p++) {
      for (let offset = 0; offset < (committed.get(p) ?? 0); offset++) {
        expect(delivered.has(`${p}:${offset}`), `${p}:${offset} never delivered`).toBe(true);
      }
    }
    expect(members.length).toBeGreaterThanOrEqual(6);
    expect(owners.size).toBeGreaterThan(5);
    expect(fencedAttempts).toBeGreaterThan(0);
  }, 300_000);
});
