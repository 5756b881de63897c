import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, fetchAll, produce } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';

const hour = 3_600_000;

describe.each(backends)('retention cut-off ($name)', (backend) => {
  let server: RunningServer;
  let now = Date.UTC(2026, 0, 1);
  beforeAll(async () => {
    server = await startServer(backend, { now: () => now });
  });
  afterAll(() => server.close());

  const partition = async (topic: string) =>
    (await call(server.url, 'GET', `/v1/topics/${topic}`)).body.partitions[0];

  it('expires batches older than retention.ms exactly, oldest first, and never serves them', async () => {
    await createTopic(server.url, 'timed', 1, { 'retention.ms': String(hour) });
    await produce(server.url, 'timed', [{ value: 'a' }, { value: 'b' }]);
    now += 30 * 60_000;
    await produce(server.url, 'timed', [{ value: 'c' }]);

    now += 30 * 60_000; // the first batch is exactly retention.ms old: kept
    expect((await partition('timed')).logStartOffset).toBe(0);
    now += 1; // one millisecond more: gone
    expect(await partition('timed')).toMatchObject({ logStartOffset: 2, highWatermark: 3 });

    const old = await call(server.url, 'GET', '/v1/topics/timed/partitions/0/records?offset=0');
    expect(old.status).toBe(416);
    expect(old.body.error).toMatchObject({
      code: 'OFFSET_OUT_OF_RANGE',
      logStartOffset: 2,
      highWatermark: 3,
    });
    expect((await fetchAll(server.url, 'timed', 0, 2)).map((r) => r.value)).toEqual(['c']);
    const earliest = await call(
      server.url,
      'GET',
      '/v1/topics/timed/partitions/0/offsets?spec=earliest',
    );
    expect(earliest.body.offset).toBe(2);

    now += hour;
    expect(await partition('timed')).toMatchObject({ logStartOffset: 3, highWatermark: 3 });
    // Offsets are never reused: the next record continues from the high watermark.
    const [ack] = await produce(server.url, 'timed', [{ value: 'd' }]);
    expect(ack?.offset).toBe(3);
    expect((await fetchAll(server.url, 'timed', 0, 3)).map((r) => r.value)).toEqual(['d']);
  });

  it('never serves an expired record, however many batches expired at once', async () => {
    await createTopic(server.url, 'backlog', 1, { 'retention.ms': String(hour) });
    // More single-record batches than one read scans before it saves its progress.
    for (let i = 0; i < 1003; i++) await produce(server.url, 'backlog', [{ value: i }]);
    now += hour + 1;

    // The first read after the expiry, from an offset a stale log start would still hold.
    const late = await call(
      server.url,
      'GET',
      '/v1/topics/backlog/partitions/0/records?offset=1001',
    );
    expect(late.status, JSON.stringify(late.body)).toBe(416);
    expect(late.body.error).toMatchObject({ logStartOffset: 1003, highWatermark: 1003 });
    const earliest = await call(
      server.url,
      'GET',
      '/v1/topics/backlog/partitions/0/offsets?spec=earliest',
    );
    expect(earliest.body.offset).toBe(1003);
  });

  it('judges a batch by its newest record, as Kafka judges a segment', async () => {
    await createTopic(server.url, 'mixed', 1, { 'retention.ms': String(hour) });
    await produce(server.url, 'mixed', [
      { value: 'old', timestamp: now - 10 * hour },
      { value: 'new', timestamp: now },
    ]);
    expect((await partition('mixed')).logStartOffset).toBe(0);
    now += hour + 1;
    expect((await partition('mixed')).logStartOffset).toBe(2);
  });

  it('keeps at least retention.bytes, dropping the oldest batches beyond it', async () => {
    await createTopic(server.url, 'sized', 1, { 'retention.bytes': '1', 'retention.ms': '-1' });
    await produce(server.url, 'sized', [{ value: 'first' }]);
    await produce(server.url, 'sized', [{ value: 'second' }, { value: 'third' }]);
    await produce(server.url, 'sized', [{ value: 'fourth' }]);
    // Without the last batch the log would hold less than 1 byte, so only it stays.
    expect(await partition('sized')).toMatchObject({ logStartOffset: 3, highWatermark: 4 });
    expect((await fetchAll(server.url, 'sized', 0, 3)).map((r) => r.value)).toEqual(['fourth']);
  });

  it('finds the greatest timestamp among retained records only', async () => {
    await createTopic(server.url, 'sized-times', 1, {
      'retention.bytes': '1',
      'retention.ms': '-1',
    });
    await produce(server.url, 'sized-times', [{ value: 'gone', timestamp: 9000 }]);
    await produce(server.url, 'sized-times', [
      { value: 'kept', timestamp: 2000 },
      { value: 'kept too', timestamp: 3000 },
    ]);
    expect(await partition('sized-times')).toMatchObject({ logStartOffset: 1 });
    const newest = await call(
      server.url,
      'GET',
      '/v1/topics/sized-times/partitions/0/offsets?spec=max-timestamp',
    );
    expect(newest.body).toMatchObject({ offset: 2, timestamp: 3000 });
  });

  it('applies a retention change at once, and never expires a compact-only topic', async () => {
    await createTopic(server.url, 'changing', 1, { 'retention.ms': '-1' });
    await produce(server.url, 'changing', [{ value: 1 }]);
    now += 2 * hour;
    await produce(server.url, 'changing', [{ value: 2 }]);
    expect((await partition('changing')).logStartOffset).toBe(0);

    await call(server.url, 'PATCH', '/v1/topics/changing/config', {
      'cleanup.policy': 'compact',
      'retention.ms': String(hour),
    });
    expect((await partition('changing')).logStartOffset).toBe(0);

    await call(server.url, 'PATCH', '/v1/topics/changing/config', { 'cleanup.policy': 'delete' });
    expect((await partition('changing')).logStartOffset).toBe(1);
  });

  it('finds offsets by timestamp only among retained records', async () => {
    await createTopic(server.url, 'seek', 1, { 'retention.ms': String(hour) });
    await produce(server.url, 'seek', [{ value: 'a', timestamp: now }]);
    now += hour;
    await produce(server.url, 'seek', [{ value: 'b', timestamp: now }]);
    now += 1;
    const found = await call(
      server.url,
      'GET',
      '/v1/topics/seek/partitions/0/offsets?spec=timestamp:0',
    );
    expect(found.body).toMatchObject({ offset: 1, timestamp: now - 1 });
  });
});
