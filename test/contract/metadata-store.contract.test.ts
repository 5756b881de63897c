/**
 * What every MetadataStore must do, run against each backend in test/support/backends.ts.
 * The core relies on exactly these behaviours; an adapter that passes here is a drop-in.
 */

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteMetadataStore } from '../../functions/adapters/embedded/sqlite-metadata-store.ts';
import {
  ConditionFailedError,
  expectAbsent,
  expectAny,
  expectVersion,
  type ItemKey,
  type JsonObject,
  type MetadataStore,
  type StoredItem,
  TransactionContentionError,
  type WriteOp,
} from '../../functions/core/ports/metadata-store.ts';
import { backends, type OpenBackend } from '../support/backends.ts';

const put = (
  key: ItemKey,
  data: JsonObject,
  expect: WriteOp['expect'],
  expiresAt?: number,
): WriteOp =>
  expiresAt === undefined
    ? { type: 'put', key, data, expect }
    : { type: 'put', key, data, expect, expiresAt };
const del = (key: ItemKey, expect: WriteOp['expect']): WriteOp => ({ type: 'delete', key, expect });
const check = (key: ItemKey, expect: WriteOp['expect']): WriteOp => ({
  type: 'check',
  key,
  expect,
});

/** The rejection of `promise`, failing the test if it resolves. */
const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error: unknown) {
    return error;
  }
  throw new Error('expected a rejection');
};

const conditionFailureOf = async (promise: Promise<unknown>): Promise<ConditionFailedError> => {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(ConditionFailedError);
  if (!(error instanceof ConditionFailedError)) throw error;
  return error;
};

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe.each(backends)('MetadataStore contract: $name', (backend) => {
  let opened: OpenBackend;
  let store: MetadataStore;
  /** Every test writes under its own partition key, so tests never see each other's items. */
  const partition = (): string => `p-${randomUUID()}`;

  beforeAll(async () => {
    opened = await backend.open();
    store = opened.metadata;
  });
  afterAll(async () => {
    await opened?.close();
  });

  describe('versions and expectations', () => {
    it('creates items at version 1 and adds one on every put', async () => {
      const key = { pk: partition(), sk: 'item' };
      expect(await store.get(key)).toBeUndefined();

      await store.transact([put(key, { n: 1 }, expectAbsent)]);
      expect(await store.get(key)).toStrictEqual({ ...key, version: 1, data: { n: 1 } });

      await store.transact([put(key, { n: 2 }, expectVersion(1))]);
      await store.transact([put(key, { n: 3 }, expectAny)]);
      expect(await store.get(key)).toStrictEqual({ ...key, version: 3, data: { n: 3 } });
    });

    it('put expecting absent fails on an existing item and reports it', async () => {
      const key = { pk: partition(), sk: 'item' };
      await store.transact([put(key, { n: 1 }, expectAbsent)]);

      const error = await conditionFailureOf(store.transact([put(key, { n: 2 }, expectAbsent)]));
      expect(error.failures).toStrictEqual([
        { index: 0, current: { ...key, version: 1, data: { n: 1 } } },
      ]);
      expect((await store.get(key))?.data).toStrictEqual({ n: 1 });
    });

    it('put expecting a version fails on another version and on an absent item', async () => {
      const key = { pk: partition(), sk: 'item' };
      const absent = await conditionFailureOf(store.transact([put(key, {}, expectVersion(1))]));
      expect(absent.failures).toStrictEqual([{ index: 0, current: undefined }]);

      await store.transact([put(key, { n: 1 }, expectAny)]);
      await store.transact([put(key, { n: 2 }, expectAny)]);
      const stale = await conditionFailureOf(
        store.transact([put(key, { n: 9 }, expectVersion(1))]),
      );
      expect(stale.failures).toStrictEqual([
        { index: 0, current: { ...key, version: 2, data: { n: 2 } } },
      ]);
    });

    it('delete honours its expectation, ignores absent items, and a later put starts at 1', async () => {
      const key = { pk: partition(), sk: 'item' };
      await store.transact([put(key, { n: 1 }, expectAbsent)]);

      const wrong = await conditionFailureOf(store.transact([del(key, expectVersion(2))]));
      expect(wrong.failures).toStrictEqual([
        { index: 0, current: { ...key, version: 1, data: { n: 1 } } },
      ]);
      await conditionFailureOf(store.transact([del(key, expectAbsent)]));
      expect(await store.get(key)).toBeDefined();

      await store.transact([del(key, expectVersion(1))]);
      expect(await store.get(key)).toBeUndefined();
      await store.transact([del(key, expectAny)]);
      await store.transact([del(key, expectAbsent)]);

      await store.transact([put(key, { n: 2 }, expectAbsent)]);
      expect((await store.get(key))?.version).toBe(1);
    });

    it('a lone op on an absent item fails, with no current item, only when it expects a version', async () => {
      const key = { pk: partition(), sk: 'item' };
      for (const op of [
        put(key, {}, expectVersion(1)),
        del(key, expectVersion(1)),
        check(key, expectVersion(1)),
      ]) {
        const failed = await conditionFailureOf(store.transact([op]));
        expect(failed.failures).toStrictEqual([{ index: 0, current: undefined }]);
      }
      await store.transact([del(key, expectAbsent)]);
      await store.transact([del(key, expectAny)]);
      await store.transact([check(key, expectAbsent)]);
      await store.transact([check(key, expectAny)]);
      expect(await store.get(key)).toBeUndefined();
    });

    it('a lone failed put or delete reports the item as it is now, expiry included', async () => {
      const key = { pk: partition(), sk: 'item' };
      const expiresAt = Date.now() + 3_600_000 + 1; // not a whole second
      await store.transact([put(key, { n: 1 }, expectAbsent)]);
      await store.transact([put(key, { n: 2 }, expectVersion(1), expiresAt)]);
      const item: StoredItem = { ...key, version: 2, data: { n: 2 }, expiresAt };
      expect(await store.get(key)).toStrictEqual(item);

      for (const op of [
        put(key, { n: 9 }, expectAbsent),
        put(key, { n: 9 }, expectVersion(1), expiresAt + 1_000),
        del(key, expectAbsent),
        del(key, expectVersion(3)),
      ]) {
        const failed = await conditionFailureOf(store.transact([op]));
        expect(failed.failures).toStrictEqual([{ index: 0, current: item }]);
      }
      expect(await store.get(key)).toStrictEqual(item);

      // A put that carries no expiry clears it, whatever it expects.
      await store.transact([put(key, { n: 3 }, expectAny)]);
      expect(await store.get(key)).toStrictEqual({ ...key, version: 3, data: { n: 3 } });
      await store.transact([put(key, { n: 4 }, expectAny, expiresAt + 2_000)]);
      expect(await store.get(key)).toStrictEqual({
        ...key,
        version: 4,
        data: { n: 4 },
        expiresAt: expiresAt + 2_000,
      });
      await store.transact([del(key, expectVersion(4))]);
      expect(await store.get(key)).toBeUndefined();
    });

    it('check writes nothing and gates the other ops', async () => {
      const pk = partition();
      const guard = { pk, sk: 'guard' };
      const target = { pk, sk: 'target' };
      await store.transact([put(guard, { g: true }, expectAbsent)]);

      await store.transact([check(guard, expectVersion(1)), put(target, { n: 1 }, expectAbsent)]);
      expect(await store.getMany([guard, target])).toStrictEqual([
        { ...guard, version: 1, data: { g: true } },
        { ...target, version: 1, data: { n: 1 } },
      ]);

      const failed = await conditionFailureOf(
        store.transact([check(guard, expectAbsent), put(target, { n: 2 }, expectAny)]),
      );
      expect(failed.failures).toStrictEqual([
        { index: 0, current: { ...guard, version: 1, data: { g: true } } },
      ]);
      expect((await store.get(target))?.data).toStrictEqual({ n: 1 });

      await store.transact([
        check({ pk, sk: 'nothing' }, expectAbsent),
        check({ pk, sk: 'nothing-either' }, expectAny),
        check(guard, expectAny),
      ]);
      expect(await store.get({ pk, sk: 'nothing' })).toBeUndefined();
      expect(await store.get({ pk, sk: 'nothing-either' })).toBeUndefined();
      expect((await store.get(guard))?.version).toBe(1);
    });
  });

  describe('transactions', () => {
    it('writes nothing when an op fails, and reports every failed op with the item as it is now', async () => {
      const pk = partition();
      const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((sk) => ({ pk, sk }));
      if (!(a && b && c && d && e)) throw new Error('unreachable');
      await store.transact([put(a, { a: 1 }, expectAbsent), put(b, { b: 1 }, expectAbsent)]);

      const error = await conditionFailureOf(
        store.transact([
          put(c, { c: 1 }, expectAbsent), // would succeed
          put(a, { a: 2 }, expectVersion(5)), // fails: a is at version 1
          del(b, expectVersion(1)), // would succeed
          check(d, expectVersion(1)), // fails: d is absent
          put(e, { e: 1 }, expectAny), // would succeed
        ]),
      );
      expect(error.failures).toStrictEqual([
        { index: 1, current: { ...a, version: 1, data: { a: 1 } } },
        { index: 3, current: undefined },
      ]);
      expect(error.message).toContain('1, 3');
      expect(await store.getMany([a, b, c, d, e])).toStrictEqual([
        { ...a, version: 1, data: { a: 1 } },
        { ...b, version: 1, data: { b: 1 } },
        undefined,
        undefined,
        undefined,
      ]);
    });

    it('applies up to 100 ops and refuses more before writing anything', async () => {
      const pk = partition();
      const ops = (count: number): WriteOp[] =>
        Array.from({ length: count }, (_, i) =>
          put({ pk, sk: String(i).padStart(3, '0') }, { i }, expectAbsent),
        );
      const error = await rejectionOf(store.transact(ops(101)));
      expect(error).toBeInstanceOf(RangeError);
      expect(await store.query(pk)).toStrictEqual([]);

      await store.transact(ops(100));
      expect(await store.query(pk)).toHaveLength(100);
    });

    it('refuses a transaction that touches one key twice', async () => {
      const key = { pk: partition(), sk: 'item' };
      const error = await rejectionOf(
        store.transact([put(key, { n: 1 }, expectAbsent), check(key, expectAny)]),
      );
      expect(error).toBeInstanceOf(RangeError);
      expect(await store.get(key)).toBeUndefined();
    });

    it('treats an empty transaction as a no-op', async () => {
      await store.transact([]);
    });

    it('lets exactly one of several concurrent conflicting transactions win', async () => {
      const pk = partition();
      const head = { pk, sk: 'head' };
      await store.transact([put(head, { next: 0 }, expectAbsent)]);

      // Eight writers read the head at version 1 and race to advance it, each also writing
      // its own entry, as producers appending to one partition do.
      const attempts = Array.from({ length: 8 }, (_, i) =>
        store.transact([
          put(head, { next: 1, writer: i }, expectVersion(1)),
          put({ pk, sk: `entry-${i}` }, { writer: i }, expectAbsent),
        ]),
      );
      const results = await Promise.allSettled(attempts);
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(winners).toHaveLength(1);
      for (const result of results) {
        if (result.status === 'rejected') {
          expect(
            result.reason instanceof ConditionFailedError ||
              result.reason instanceof TransactionContentionError,
          ).toBe(true);
        }
      }
      const winner = winners[0];
      expect(await store.get(head)).toStrictEqual({
        ...head,
        version: 2,
        data: { next: 1, writer: winner },
      });
      const entries = await store.query(pk, { from: 'entry-', to: 'entry-~' });
      expect(entries.map((item) => item.data)).toStrictEqual([{ writer: winner }]);
    });
    it('judges concurrent transactions each on its own: one that fails writes nothing and stops no other', async () => {
      const pk = partition();
      const taken = { pk, sk: 'taken' };
      await store.transact([put(taken, { n: 1 }, expectAbsent)]);
      const own = (writer: number, part: string) => ({ pk, sk: `own-${writer}-${part}` });

      // Eight writers at once, each on items of its own. Writer 3's middle op expects the
      // taken item absent; writer 6's last op expects an item of its own that is not there.
      const attempts = Array.from({ length: 8 }, (_, i) => {
        const first = put(own(i, 'a'), { writer: i }, expectAbsent);
        const second = put(own(i, 'b'), { writer: i }, expectAbsent);
        if (i === 3) return store.transact([first, check(taken, expectAbsent), second]);
        if (i === 6) return store.transact([first, second, del(own(i, 'c'), expectVersion(1))]);
        return store.transact([first, second]);
      });
      const results = await Promise.allSettled(attempts);

      for (const [i, result] of results.entries()) {
        if (i !== 3 && i !== 6) {
          expect(result.status, `writer ${i}`).toBe('fulfilled');
          continue;
        }
        expect(result.status, `writer ${i}`).toBe('rejected');
        if (result.status === 'fulfilled') continue;
        expect(result.reason).toBeInstanceOf(ConditionFailedError);
        expect(result.reason.failures).toStrictEqual(
          i === 3
            ? [{ index: 1, current: { ...taken, version: 1, data: { n: 1 } } }]
            : [{ index: 2, current: undefined }],
        );
      }
      const written = await store.query(pk, { from: 'own-', to: 'own-~' });
      expect(written.map((item) => item.sk)).toStrictEqual(
        [0, 1, 2, 4, 5, 7].flatMap((i) => [own(i, 'a').sk, own(i, 'b').sk]),
      );
      expect(written.every((item) => item.version === 1)).toBe(true);
      expect(await store.get(taken)).toStrictEqual({ ...taken, version: 1, data: { n: 1 } });
    });

    it('lets exactly one writer win when lone puts race transactions on one item', async () => {
      const pk = partition();
      const head = { pk, sk: 'head' };
      await store.transact([put(head, { next: 0 }, expectAbsent)]);

      // Even writers send the head alone (as heartbeats and leadership do), odd ones with an
      // entry of their own (as appends do).
      const attempts = Array.from({ length: 8 }, (_, i) => {
        const advance = put(head, { next: 1, writer: i }, expectVersion(1));
        return store.transact(
          i % 2 === 0
            ? [advance]
            : [advance, put({ pk, sk: `entry-${i}` }, { writer: i }, expectAbsent)],
        );
      });
      const results = await Promise.allSettled(attempts);
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(winners).toHaveLength(1);
      const [winner] = winners;
      if (winner === undefined) throw new Error('unreachable');
      const winning: StoredItem = { ...head, version: 2, data: { next: 1, writer: winner } };
      for (const result of results) {
        if (result.status === 'fulfilled') continue;
        if (result.reason instanceof ConditionFailedError) {
          expect(result.reason.failures).toStrictEqual([{ index: 0, current: winning }]);
        } else {
          expect(result.reason).toBeInstanceOf(TransactionContentionError);
        }
      }
      expect(await store.get(head)).toStrictEqual(winning);
      const entries = await store.query(pk, { from: 'entry-', to: 'entry-~' });
      expect(entries.map((item) => item.data.writer)).toStrictEqual(
        winner % 2 === 1 ? [winner] : [],
      );
    });
  });

  describe('queries', () => {
    it('orders sort keys by UTF-8 bytes', async () => {
      const pk = partition();
      const sks = [
        'b#00000000000000000010',
        'b#00000000000000000009',
        'b#0000000000000000001',
        'a',
        'B',
        'b',
        'ab',
        'a b',
        'a~',
        'é',
        'z',
        '\u{FFFD}', // U+FFFD encodes as EF BF BD ...
        '\u{1F600}', // ... and U+1F600 as F0 9F 98 80, though its UTF-16 form sorts first
        '\u{10000}',
      ];
      await store.transact(sks.map((sk) => put({ pk, sk }, { sk }, expectAbsent)));

      const expected = [...sks].sort(byteOrder);
      // Guard the test itself: UTF-16 order (JS's default sort) must differ from byte order.
      expect([...sks].sort()).not.toStrictEqual(expected);
      const items = await store.query(pk);
      expect(items.map((item) => item.sk)).toStrictEqual(expected);
      expect(items.map((item) => item.data.sk)).toStrictEqual(expected);
      const reversed = await store.query(pk, { reverse: true });
      expect(reversed.map((item) => item.sk)).toStrictEqual([...expected].reverse());
    });

    it('applies inclusive bounds, reverse and limit, within one partition key', async () => {
      const pk = partition();
      const sks = Array.from({ length: 10 }, (_, i) => `k${String(i + 1).padStart(2, '0')}`);
      await store.transact(sks.map((sk) => put({ pk, sk }, {}, expectAbsent)));
      await store.transact([put({ pk: `${pk}-other`, sk: 'k05' }, {}, expectAbsent)]);
      const sksOf = async (options: Parameters<MetadataStore['query']>[1]): Promise<string[]> =>
        (await store.query(pk, options)).map((item) => item.sk);

      expect(await sksOf({ from: 'k03', to: 'k05' })).toStrictEqual(['k03', 'k04', 'k05']);
      expect(await sksOf({ from: 'k025', to: 'k045' })).toStrictEqual(['k03', 'k04']);
      expect(await sksOf({ from: 'k09' })).toStrictEqual(['k09', 'k10']);
      expect(await sksOf({ to: 'k02' })).toStrictEqual(['k01', 'k02']);
      expect(await sksOf({ from: 'k05', to: 'k05' })).toStrictEqual(['k05']);
      expect(await sksOf({ from: 'k06', to: 'k05' })).toStrictEqual([]);
      expect(await sksOf({ from: 'k03', to: 'k07', reverse: true, limit: 2 })).toStrictEqual([
        'k07',
        'k06',
      ]);
      expect(await sksOf({ limit: 3 })).toStrictEqual(['k01', 'k02', 'k03']);
      expect(await sksOf({ reverse: true, limit: 1 })).toStrictEqual(['k10']);
      expect(await sksOf({ limit: 0 })).toStrictEqual([]);
      expect(await sksOf({ limit: 50 })).toStrictEqual(sks);
      expect(await sksOf({ from: '', to: 'k01' })).toStrictEqual(['k01']);
      expect(await store.query(partition())).toStrictEqual([]);
    });

    it('pages through results beyond one DynamoDB page (1 MB), and reads more than 100 keys at once', async () => {
      const pk = partition();
      const count = 1_200;
      const filler = 'x'.repeat(1_000);
      const sk = (i: number): string => `b#${String(i).padStart(20, '0')}`;
      for (let start = 0; start < count; start += 100) {
        await store.transact(
          Array.from({ length: 100 }, (_, j) =>
            put({ pk, sk: sk(start + j) }, { i: start + j, filler }, expectAbsent),
          ),
        );
      }

      const all = await store.query(pk);
      expect(all).toHaveLength(count);
      expect(all.every((item, i) => item.sk === sk(i) && item.data.i === i)).toBe(true);

      const limited = await store.query(pk, { limit: 1_100 });
      expect(limited.map((item) => item.data.i)).toStrictEqual(
        Array.from({ length: 1_100 }, (_, i) => i),
      );
      const backwards = await store.query(pk, { reverse: true, from: sk(10), limit: 1_150 });
      expect(backwards.map((item) => item.data.i)).toStrictEqual(
        Array.from({ length: 1_150 }, (_, i) => count - 1 - i),
      );

      // getMany: 150 present keys interleaved with absent and repeated ones, in the asked order.
      const keys: ItemKey[] = [];
      for (let i = 0; i < 150; i++) {
        keys.push({ pk, sk: sk(count - 1 - i * 7) });
        if (i % 10 === 0) keys.push({ pk, sk: `absent-${i}` });
      }
      keys.push({ pk, sk: sk(0) }, { pk, sk: sk(0) });
      const got = await store.getMany(keys);
      expect(got).toHaveLength(keys.length);
      got.forEach((item, i) => {
        const key = keys[i];
        if (key?.sk.startsWith('absent-')) expect(item).toBeUndefined();
        else
          expect(item && { pk: item.pk, sk: item.sk, version: item.version }).toStrictEqual({
            ...key,
            version: 1,
          });
      });
      expect(await store.getMany([])).toStrictEqual([]);
    });
  });

  describe('items', () => {
    it('reads several items in the order asked, undefined where absent', async () => {
      const pk = partition();
      await store.transact([
        put({ pk, sk: 'a' }, { a: 1 }, expectAbsent),
        put({ pk, sk: 'c' }, { c: 1 }, expectAbsent),
      ]);
      const items = await store.getMany([
        { pk, sk: 'c' },
        { pk, sk: 'b' },
        { pk, sk: 'a' },
        { pk: partition(), sk: 'a' },
      ]);
      expect(items.map((item) => item?.sk)).toStrictEqual(['c', undefined, 'a', undefined]);
    });

    it('keeps expiresAt to the millisecond, and a put without it clears it', async () => {
      const key = { pk: partition(), sk: 'item' };
      const expiresAt = Date.now() + 3_600_000 + 1; // not a whole second
      await store.transact([put(key, { n: 1 }, expectAbsent, expiresAt)]);
      const item: StoredItem = { ...key, version: 1, data: { n: 1 }, expiresAt };
      expect(await store.get(key)).toStrictEqual(item);
      expect(await store.query(key.pk)).toStrictEqual([item]);
      const failed = await conditionFailureOf(store.transact([check(key, expectAbsent)]));
      expect(failed.failures).toStrictEqual([{ index: 0, current: item }]);

      await store.transact([put(key, { n: 2 }, expectVersion(1))]);
      expect(await store.get(key)).toStrictEqual({ ...key, version: 2, data: { n: 2 } });
    });

    it('keeps a member named __proto__ as a member, at any depth', async () => {
      const key = { pk: partition(), sk: 'item' };
      // Parsed, so that __proto__ is a member, not the prototype an object literal would set.
      const data = JSON.parse(
        '{"__proto__": "top", "map": {"__proto__": {"__proto__": 1}, "a": 2}, "list": [{"__proto__": null}]}',
      );
      await store.transact([put(key, data, expectAbsent)]);
      const item = await store.get(key);
      // DynamoDB keeps no order of a map's members: compare them sorted.
      const sorted = (value: unknown): unknown =>
        Array.isArray(value)
          ? value.map(sorted)
          : typeof value === 'object' && value !== null
            ? Object.entries(value)
                .sort(([a], [b]) => (a < b ? -1 : 1))
                .map(([k, v]) => [k, sorted(v)])
            : value;
      expect(sorted(item?.data)).toStrictEqual(sorted(data));
      expect(Object.getPrototypeOf(item?.data)).toBe(Object.prototype);
    });

    it('deletes many items unconditionally, ignoring absent and repeated keys', async () => {
      const pk = partition();
      const keys = Array.from({ length: 60 }, (_, i) => ({ pk, sk: String(i).padStart(2, '0') }));
      await store.transact(keys.map((key) => put(key, {}, expectAbsent)));

      const doomed = keys.filter((_, i) => i % 3 !== 0);
      await store.deleteMany([...doomed, { pk, sk: 'absent' }, ...doomed.slice(0, 1)]);
      const left = await store.query(pk);
      expect(left.map((item) => item.sk)).toStrictEqual(
        keys.filter((_, i) => i % 3 === 0).map((key) => key.sk),
      );
      await store.deleteMany([]);
    });

    it('round-trips JSON data exactly', async () => {
      const key = { pk: partition(), sk: 'item' };
      const data: JsonObject = {
        string: 'text',
        empty: '',
        unicode: 'é 😀 \u0000 \n "quoted"',
        zero: 0,
        negative: -42,
        maxSafe: Number.MAX_SAFE_INTEGER,
        minSafe: Number.MIN_SAFE_INTEGER,
        fraction: 0.1,
        tiny: 1.5e-10,
        precise: 0.30000000000000004,
        yes: true,
        no: false,
        nothing: null,
        emptyObject: {},
        emptyArray: [],
        array: [1, 'two', null, false, [], {}, ['nested', [''], { deep: [null] }]],
        nested: { a: { b: { c: { d: 'deep', e: [{ f: '' }] } } } },
        'key with spaces': 1,
        'key.with#punctuation:': 2,
        '😀': 3,
      };
      await store.transact([put(key, data, expectAbsent)]);
      expect((await store.get(key))?.data).toStrictEqual(data);
      expect((await store.query(key.pk))[0]?.data).toStrictEqual(data);
    });

    it('refuses keys DynamoDB cannot store, alike on every backend', async () => {
      const pk = partition();
      for (const key of [
        { pk: '', sk: 'a' },
        { pk, sk: '' },
        { pk, sk: 'x'.repeat(1_025) },
        { pk, sk: 'é'.repeat(513) }, // 1,026 UTF-8 bytes
        { pk: 'p'.repeat(2_049), sk: 'a' },
        { pk, sk: '\uD800' }, // a lone surrogate has no UTF-8 form
      ]) {
        expect(await rejectionOf(store.transact([put(key, {}, expectAny)]))).toBeInstanceOf(
          RangeError,
        );
        expect(await rejectionOf(store.get(key))).toBeInstanceOf(RangeError);
      }
      await store.transact([put({ pk, sk: 'x'.repeat(1_024) }, {}, expectAbsent)]);
      expect(await store.query(pk)).toHaveLength(1);
    });

    it('refuses data DynamoDB cannot store exactly, alike on every backend', async () => {
      const pk = partition();
      const refused: JsonObject[] = [
        { n: 2 ** 53 },
        { n: -(2 ** 53) },
        { nested: [{ n: 1e21 }] },
        { n: 1e-200 },
        { '': 'empty keys are not attribute names' },
        { nested: { '': 1 } },
        { big: 'x'.repeat(400 * 1024) },
      ];
      for (const [i, data] of refused.entries()) {
        const key = { pk, sk: String(i) };
        expect(await rejectionOf(store.transact([put(key, data, expectAny)]))).toBeInstanceOf(
          RangeError,
        );
      }
      expect(await store.query(pk)).toStrictEqual([]);

      const large = { big: 'x'.repeat(380 * 1024) };
      await store.transact([put({ pk, sk: 'large' }, large, expectAbsent)]);
      expect((await store.get({ pk, sk: 'large' }))?.data).toStrictEqual(large);
    });
  });
});

describe('embedded MetadataStore durability', () => {
  it('keeps every acknowledged transaction, whole, when the process is killed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tributary-crash-'));
    try {
      const path = join(dir, 'metadata.db');
      const writer = fileURLToPath(new URL('../support/sqlite-crash-writer.ts', import.meta.url));
      const child = spawn(process.execPath, [writer, path], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const exited = once(child, 'exit');

      // Kill -9 right after the 20th acknowledgement, while the writer is still going.
      let acknowledged = -1;
      for await (const line of createInterface({ input: child.stdout })) {
        const match = /^committed (\d+)$/.exec(line);
        if (match?.[1] === undefined) continue;
        acknowledged = Number(match[1]);
        if (acknowledged >= 20) {
          child.kill('SIGKILL');
          break;
        }
      }
      const [, signal] = await exited;
      expect(signal, stderr).toBe('SIGKILL');
      expect(acknowledged).toBe(20);

      const reopened = openSqliteMetadataStore(path);
      try {
        const items = await reopened.query('item');
        const pairs = await reopened.query('pair');
        // Everything acknowledged is there; anything later is there whole or not at all.
        expect(items.length).toBeGreaterThan(acknowledged);
        expect(pairs.map((p) => p.sk)).toStrictEqual(items.map((i) => i.sk));
        expect(items.map((i) => i.data.i)).toStrictEqual(items.map((_, i) => i));
      } finally {
        reopened.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps every acknowledged transaction of concurrent writers, and each whole, when killed mid-commit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tributary-crash-'));
    try {
      const path = join(dir, 'metadata.db');
      const writer = fileURLToPath(
        new URL('../support/sqlite-group-crash-writer.ts', import.meta.url),
      );
      const child = spawn(process.execPath, [writer, path], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const exited = once(child, 'exit');

      // Eight writers share commits; kill -9 after 400 answers, while they are all going.
      const committed: string[] = [];
      const refused: string[] = [];
      for await (const line of createInterface({ input: child.stdout })) {
        const [outcome, sk] = line.split(' ');
        if (outcome === 'committed' && sk) committed.push(sk);
        if (outcome === 'refused' && sk) refused.push(sk);
        if (committed.length + refused.length >= 400) {
          child.kill('SIGKILL');
          break;
        }
      }
      const [, signal] = await exited;
      expect(signal, stderr).toBe('SIGKILL');
      expect(refused.length).toBeGreaterThan(0);

      const reopened = openSqliteMetadataStore(path);
      try {
        const items = (await reopened.query('item')).map((item) => item.sk);
        const pairs = (await reopened.query('pair')).map((pair) => pair.sk);
        // Each transaction is there whole or not at all, a refused one not at all...
        expect(pairs).toStrictEqual(items);
        const found = new Set(items);
        for (const sk of refused) expect(found.has(sk), sk).toBe(false);
        // ...and every acknowledged one is there.
        for (const sk of committed) expect(found.has(sk), sk).toBe(true);
        // A writer waits for each answer before its next transaction: what it committed is
        // every transaction up to its last, bar the refused ones.
        for (let w = 0; w < 8; w++) {
          const ns = items.filter((sk) => sk.startsWith(`${w}-`)).map((sk) => Number(sk.slice(2)));
          const last = Math.max(-1, ...ns);
          const expected = Array.from({ length: last + 1 }, (_, n) => n).filter((n) => n % 4 !== 3);
          expect(ns, `writer ${w}`).toStrictEqual(expected);
        }
      } finally {
        reopened.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('sweeps expired items only when asked', async () => {
    const store = openSqliteMetadataStore(':memory:');
    try {
      const now = Date.now();
      await store.transact([
        put({ pk: 'p', sk: 'expired' }, {}, expectAbsent, now - 1),
        put({ pk: 'p', sk: 'later' }, {}, expectAbsent, now + 60_000),
        put({ pk: 'p', sk: 'forever' }, {}, expectAbsent),
      ]);
      // Like DynamoDB TTL, expiry is lazy: an expired item is still readable...
      expect((await store.get({ pk: 'p', sk: 'expired' }))?.expiresAt).toBe(now - 1);
      // ...until a sweep removes it.
      expect(store.sweepExpired(now)).toBe(1);
      expect((await store.query('p')).map((item) => item.sk)).toStrictEqual(['forever', 'later']);
    } finally {
      store.close();
    }
  });
});
