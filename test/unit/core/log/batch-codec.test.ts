import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crc32c } from '@aws-crypto/crc32c';
import { describe, expect, it } from 'vitest';
import {
  BATCH_OVERHEAD_BYTES,
  type BatchRecord,
  CorruptBatchError,
  type CorruptBatchReason,
  concatBatches,
  type DecodedBatch,
  decodeBatch,
  encodeBatch,
  type RecordHeader,
  recordSize,
  type TimestampType,
} from '../../../../functions/core/log/batch-codec.ts';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const utf8 = (s: string) => new TextEncoder().encode(s);

function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  if (!/^(?:[0-9a-f]{2})*$/i.test(clean)) throw new Error(`not hex: ${hex}`);
  return Uint8Array.from(clean.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}

const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/**
 * A second CRC-32C, bit at a time from the definition (reflected polynomial 0x82F63B78,
 * init and final xor 0xFFFFFFFF), sharing nothing with @aws-crypto/crc32c's table.
 */
function referenceCrc32c(...parts: Uint8Array[]): number {
  let crc = 0xffffffff;
  for (const part of parts) {
    for (const byte of part) {
      crc ^= byte;
      for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    }
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The crc a batch should carry: over everything but the crc field itself. */
const batchCrc = (batch: Uint8Array) => referenceCrc32c(batch.subarray(0, 8), batch.subarray(12));

/** Rebuilds header, length and crc around a hand-written body: to reach checks behind the crc. */
function seal(body: Uint8Array, { version = 1, attributes = 0 } = {}): Uint8Array {
  const batch = new Uint8Array(12 + body.length);
  const view = new DataView(batch.buffer);
  batch.set([0x54, 0x42, version, attributes]);
  view.setUint32(4, 4 + body.length);
  batch.set(body, 12);
  view.setUint32(8, batchCrc(batch));
  return batch;
}

/** Fixed body fields: recordCount, baseTimestamp, maxTimestamp. */
function bodyHead(count: number, base: number, max: number): string {
  const head = new DataView(new ArrayBuffer(20));
  head.setUint32(0, count);
  head.setBigInt64(4, BigInt(base));
  head.setBigInt64(12, BigInt(max));
  return toHex(new Uint8Array(head.buffer));
}

function expectCorrupt(bytes: Uint8Array, reason?: CorruptBatchReason): void {
  let caught: unknown;
  try {
    decodeBatch(bytes);
  } catch (error: unknown) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CorruptBatchError);
  if (reason !== undefined && caught instanceof CorruptBatchError) {
    expect(caught.reason).toBe(reason);
  }
}

/** The decoded records as plain data, with byte views copied, for deep equality. */
function plain(batch: DecodedBatch) {
  return {
    ...batch,
    records: batch.records.map((r) => ({
      ...r,
      key: r.key && Uint8Array.from(r.key),
      value: r.value && Uint8Array.from(r.value),
      headers: r.headers.map((h) => ({ name: h.name, value: h.value && Uint8Array.from(h.value) })),
    })),
  };
}

function roundTrip(type: TimestampType, records: BatchRecord[], offsetDeltas?: number[]) {
  const decoded = decodeBatch(encodeBatch(type, records, offsetDeltas));
  const timestamps = records.map((r) => r.timestamp);
  expect(plain(decoded)).toEqual({
    timestampType: type,
    baseTimestamp: Math.min(...timestamps),
    maxTimestamp: Math.max(...timestamps),
    records: records.map((r, i) => ({ ...r, offsetDelta: offsetDeltas?.[i] ?? i })),
  });
  return decoded;
}

const record = (overrides: Partial<BatchRecord> = {}): BatchRecord => ({
  timestamp: 1_700_000_000_000,
  key: utf8('k'),
  value: utf8('v'),
  headers: [],
  ...overrides,
});

// ---------------------------------------------------------------------------------------------
// Golden vectors: test/unit/core/log/golden/<name>.json (input) + <name>.hex (exact bytes)
// ---------------------------------------------------------------------------------------------

interface GoldenVector {
  readonly name: string;
  readonly timestampType: TimestampType;
  readonly offsetDeltas: number[] | undefined;
  readonly records: BatchRecord[];
  readonly baseTimestamp: number;
  readonly maxTimestamp: number;
  readonly bytes: Uint8Array;
}

const goldenDir = fileURLToPath(new URL('./golden/', import.meta.url));

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function field<T>(obj: unknown, name: string, check: (v: unknown) => v is T): T {
  if (!isObject(obj) || !check(obj[name])) throw new Error(`golden vector: bad field ${name}`);
  return obj[name];
}

const isNumber = (v: unknown): v is number => typeof v === 'number';
const isString = (v: unknown): v is string => typeof v === 'string';
const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isHexOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
const isTimestampType = (v: unknown): v is TimestampType =>
  v === 'CreateTime' || v === 'LogAppendTime';
const bytesOrNull = (hex: string | null) => (hex === null ? null : fromHex(hex));

function loadGolden(name: string): GoldenVector {
  const json: unknown = JSON.parse(readFileSync(`${goldenDir}${name}.json`, 'utf8'));
  const deltas = isObject(json) ? json.offsetDeltas : undefined;
  if (deltas !== undefined && !(isArray(deltas) && deltas.every(isNumber))) {
    throw new Error('golden vector: bad offsetDeltas');
  }
  return {
    name,
    timestampType: field(json, 'timestampType', isTimestampType),
    offsetDeltas: deltas,
    records: field(json, 'records', isArray).map(
      (r): BatchRecord => ({
        timestamp: field(r, 'timestamp', isNumber),
        key: bytesOrNull(field(r, 'key', isHexOrNull)),
        value: bytesOrNull(field(r, 'value', isHexOrNull)),
        headers: field(r, 'headers', isArray).map(
          (h): RecordHeader => ({
            name: field(h, 'name', isString),
            value: bytesOrNull(field(h, 'value', isHexOrNull)),
          }),
        ),
      }),
    ),
    baseTimestamp: field(json, 'baseTimestamp', isNumber),
    maxTimestamp: field(json, 'maxTimestamp', isNumber),
    bytes: fromHex(readFileSync(`${goldenDir}${name}.hex`, 'utf8')),
  };
}

const goldenNames = readdirSync(goldenDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();
const golden = goldenNames.map(loadGolden);

describe('CRC-32C', () => {
  it('both implementations give the standard check value for "123456789"', () => {
    expect(referenceCrc32c(utf8('123456789'))).toBe(0xe3069283);
    expect(crc32c(utf8('123456789'))).toBe(0xe3069283);
  });

  it('agree on arbitrary bytes', () => {
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) % 256);
    expect(crc32c(bytes)).toBe(referenceCrc32c(bytes));
  });
});

describe('golden vectors', () => {
  it('are all present: 4 vectors, each with a .json and a .hex', () => {
    expect(goldenNames).toEqual([
      'compacted-offset-gaps',
      'pre-epoch-unicode',
      'single-record',
      'tombstone-and-headers',
    ]);
  });

  describe.each(golden)('$name', (vector) => {
    it('encodes the json input to exactly the checked-in bytes', () => {
      const encoded = encodeBatch(vector.timestampType, vector.records, vector.offsetDeltas);
      expect(toHex(encoded)).toBe(toHex(vector.bytes));
    });

    it('carries a crc that an independent CRC-32C agrees with', () => {
      const stored = new DataView(vector.bytes.buffer).getUint32(8);
      expect(stored).toBe(batchCrc(vector.bytes));
    });

    it('decodes the checked-in bytes to the json input', () => {
      const decoded = decodeBatch(vector.bytes);
      expect(plain(decoded)).toEqual({
        timestampType: vector.timestampType,
        baseTimestamp: vector.baseTimestamp,
        maxTimestamp: vector.maxTimestamp,
        records: vector.records.map((r, i) => ({
          ...r,
          offsetDelta: vector.offsetDeltas?.[i] ?? i,
        })),
      });
    });

    it('refuses the batch when any single byte is changed', () => {
      for (let pos = 0; pos < vector.bytes.length; pos++) {
        for (const mask of [0x01, 0x80, 0xff]) {
          const corrupted = Uint8Array.from(vector.bytes);
          corrupted[pos] = (corrupted[pos] ?? 0) ^ mask;
          expectCorrupt(corrupted);
        }
      }
    });

    it('refuses the batch truncated at every length', () => {
      for (let length = 0; length < vector.bytes.length; length++) {
        expectCorrupt(vector.bytes.slice(0, length));
      }
    });

    it('refuses the batch with a byte appended', () => {
      const extended = new Uint8Array(vector.bytes.length + 1);
      extended.set(vector.bytes);
      expectCorrupt(extended, 'length');
    });
  });

  it('single-record matches its hand derivation in single-record.md', () => {
    // Rebuilt from the grammar, field by field; seal() adds magic, version, attributes,
    // length and the crc (computed with the reference CRC-32C above).
    const fields: [hex: string, meaning: string][] = [
      ['00000001', 'recordCount 1'],
      ['0000018bcfe56800', 'baseTimestamp 1700000000000'],
      ['0000018bcfe56800', 'maxTimestamp 1700000000000'],
      ['07', 'record length: 7 bytes follow'],
      ['00', 'offsetDelta 0'],
      ['00', 'timestampDelta 0'],
      ['026b', 'key: 1 byte, "k"'],
      ['0276', 'value: 1 byte, "v"'],
      ['00', 'headerCount 0'],
    ];
    const sealed = seal(fromHex(fields.map(([hex]) => hex).join('')));
    expect(toHex(sealed.subarray(0, 8))).toBe('5442010000000020');
    expect(toHex(sealed.subarray(8, 12))).toBe('ca9455e2');
    expect(toHex(sealed)).toBe(toHex(loadGolden('single-record').bytes));
  });
});

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

describe('round trips', () => {
  it('a null key, a null value and an empty value', () => {
    roundTrip('CreateTime', [
      record({ key: null }),
      record({ value: null }),
      record({ key: new Uint8Array(0), value: new Uint8Array(0) }),
      record({ key: null, value: null }),
    ]);
  });

  it('binary keys and values holding all 256 byte values', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const reversed = Uint8Array.from(all).reverse();
    roundTrip('CreateTime', [
      record({ key: all, value: reversed }),
      record({ key: reversed, value: all }),
    ]);
  });

  it('headers with null, empty and binary values, repeated names', () => {
    roundTrip('CreateTime', [
      record({
        headers: [
          { name: 'trace-id', value: null },
          { name: 'trace-id', value: new Uint8Array(0) },
          { name: 'bin', value: Uint8Array.from([0, 0x80, 0xff]) },
          { name: '', value: utf8('empty name') },
        ],
      }),
    ]);
  });

  it('unicode header names: accents, CJK, astral characters, a leading BOM', () => {
    roundTrip('CreateTime', [
      record({
        headers: [
          { name: 'café', value: null },
          { name: '日本語', value: utf8('x') },
          { name: '🦀 emoji 😀', value: null },
          { name: '\ufeffstarts-with-bom', value: null },
          { name: 'a\u0000b', value: null },
        ],
      }),
    ]);
  });

  it('many records, with offset deltas 0..n-1 and varied sizes', () => {
    const records = Array.from({ length: 10_000 }, (_, i) =>
      record({
        timestamp: 1_700_000_000_000 + ((i * 7919) % 100_000),
        key: i % 3 === 0 ? null : utf8(`key-${i}`),
        value: new Uint8Array(i % 300).fill(i % 256),
        headers: i % 5 === 0 ? [{ name: `h${i}`, value: utf8(String(i)) }] : [],
      }),
    );
    const decoded = roundTrip('CreateTime', records);
    expect(decoded.records.at(-1)?.offsetDelta).toBe(9_999);
  });

  it('timestamps before 1970', () => {
    roundTrip('CreateTime', [
      record({ timestamp: -1 }),
      record({ timestamp: -86_400_000 }),
      record({ timestamp: Date.UTC(1900, 0, 1) }),
    ]);
  });

  it('timestamps in the far future and at the limits of safe integers', () => {
    roundTrip('CreateTime', [record({ timestamp: 8.64e15 }), record({ timestamp: 8.64e15 - 1 })]);
    roundTrip('CreateTime', [record({ timestamp: Number.MAX_SAFE_INTEGER })]);
    roundTrip('CreateTime', [record({ timestamp: Number.MIN_SAFE_INTEGER })]);
    roundTrip('CreateTime', [
      record({ timestamp: -8.64e15 }),
      record({ timestamp: -8.64e15 + 2 ** 40 }),
    ]);
  });

  it('timestamp deltas across every varint length, beyond 32 bits', () => {
    const base = -(2 ** 51);
    const deltas = [0, 1, 63, 64, 127, 128, 2 ** 14, 2 ** 21, 2 ** 28, 2 ** 31, 2 ** 32, 2 ** 35];
    const more = [2 ** 42, 2 ** 49, 2 ** 52 - 1];
    const records = [...deltas, ...more].map((d) => record({ timestamp: base + d }));
    roundTrip('CreateTime', records);
  });

  it('offset deltas up to 2^53-1 (an 8-byte varint)', () => {
    const deltas = [0, 127, 128, 2 ** 32 - 1, 2 ** 32, 2 ** 49, Number.MAX_SAFE_INTEGER];
    roundTrip(
      'CreateTime',
      deltas.map(() => record()),
      deltas,
    );
  });

  it('the LogAppendTime attribute', () => {
    const batch = encodeBatch('LogAppendTime', [record()]);
    expect(batch[3]).toBe(0x01);
    expect(encodeBatch('CreateTime', [record()])[3]).toBe(0x00);
    roundTrip('LogAppendTime', [record(), record({ timestamp: 1_700_000_000_001 })]);
  });

  it('keeps record order even when timestamps go backwards', () => {
    roundTrip('CreateTime', [
      record({ timestamp: 30, key: utf8('a') }),
      record({ timestamp: 10, key: utf8('b') }),
      record({ timestamp: 20, key: utf8('c') }),
    ]);
  });
});

describe('decodeBatch', () => {
  it('returns views into the input, not copies', () => {
    const batch = encodeBatch('CreateTime', [
      record({ headers: [{ name: 'h', value: utf8('hv') }] }),
    ]);
    const [decoded] = decodeBatch(batch).records;
    expect(decoded?.key?.buffer).toBe(batch.buffer);
    expect(decoded?.value?.buffer).toBe(batch.buffer);
    expect(decoded?.headers[0]?.value?.buffer).toBe(batch.buffer);
  });

  it('decodes each batch of a chunk from its byte range', () => {
    const a = encodeBatch('CreateTime', [record({ value: utf8('first') })]);
    const b = encodeBatch('LogAppendTime', [record({ value: utf8('second') }), record()]);
    const c = encodeBatch('CreateTime', [record({ key: null })]);
    const { body, ranges } = concatBatches([a, b, c]);
    expect(ranges).toEqual([
      { offset: 0, length: a.length },
      { offset: a.length, length: b.length },
      { offset: a.length + b.length, length: c.length },
    ]);
    expect(body.length).toBe(a.length + b.length + c.length);
    const decoded = ranges.map((r) => decodeBatch(body.subarray(r.offset, r.offset + r.length)));
    expect(decoded.map((d) => d.records.length)).toEqual([1, 2, 1]);
    expect(decoded[1]?.timestampType).toBe('LogAppendTime');
    expect(Buffer.from(decoded[0]?.records[0]?.value ?? []).toString()).toBe('first');
    // A whole chunk is not one batch.
    expectCorrupt(body, 'length');
  });

  it('concatBatches of nothing is an empty chunk', () => {
    expect(concatBatches([])).toEqual({ body: new Uint8Array(0), ranges: [] });
  });

  // Checks behind the crc: the batches below carry a valid crc, so only the grammar
  // checks can refuse them. They guard against a writer bug, not against bit rot.
  const ts = 1_700_000_000_000;
  const head1 = bodyHead(1, ts, ts);

  it('accepts a hand-sealed valid batch (the fixture itself is right)', () => {
    expect(decodeBatch(seal(fromHex(`${head1} 07 00 00 026b 0276 00`))).records).toHaveLength(1);
  });

  it.each([
    [
      'an unknown version',
      'version',
      seal(fromHex(`${head1} 07 00 00 026b 0276 00`), { version: 2 }),
    ],
    ['version 0', 'version', seal(fromHex(`${head1} 07 00 00 026b 0276 00`), { version: 0 })],
    [
      'reserved attribute bits',
      'attributes',
      seal(fromHex(`${head1} 07 00 00 026b 0276 00`), { attributes: 0x02 }),
    ],
    ['zero records', 'record', seal(fromHex(bodyHead(0, ts, ts)))],
    [
      'more records announced than present',
      'truncated',
      seal(fromHex(`${bodyHead(2, ts, ts)} 07 00 00 026b 0276 00`)),
    ],
    [
      'trailing bytes after the records',
      'record',
      seal(fromHex(`${head1} 07 00 00 026b 0276 00 00`)),
    ],
    [
      'a record length longer than its fields',
      'record',
      seal(fromHex(`${head1} 08 00 00 026b 0276 00 00`)),
    ],
    [
      'a record length shorter than its fields',
      'truncated',
      seal(fromHex(`${head1} 06 00 00 026b 0276 00 00`)),
    ],
    [
      'a record running past the batch',
      'truncated',
      seal(fromHex(`${head1} 09 00 00 026b 0276 00`)),
    ],
    ['a key running past its record', 'truncated', seal(fromHex(`${head1} 07 00 00 096b 0276 00`))],
    [
      'an overlong varint (0 as 80 00)',
      'varint',
      seal(fromHex(`${head1} 08 8000 00 026b 0276 00`)),
    ],
    [
      'a varint longer than 8 bytes',
      'varint',
      seal(fromHex(`${head1} 0d ffffffffffffffff01 00 00 00 00`)),
    ],
    [
      'a varint above 2^53-1',
      'varint',
      seal(fromHex(`${head1} 0d ffffffffffffff10 00 00 00 00 00`)),
    ],
    ['a truncated varint', 'truncated', seal(fromHex(`${head1} 80`))],
    [
      'offset deltas not increasing',
      'record',
      seal(fromHex(`${bodyHead(2, ts, ts)} 0500000000 00 0500000000 00`)),
    ],
    [
      'a base timestamp that is not the minimum',
      'record',
      seal(fromHex(`${bodyHead(1, ts - 1, ts)} 050002000000`)),
    ],
    [
      'a max timestamp that is not the maximum',
      'record',
      seal(fromHex(`${bodyHead(1, ts, ts + 1)} 050000000000`)),
    ],
    [
      'a timestamp beyond safe integers',
      'record',
      seal(fromHex(`${bodyHead(1, 2 ** 53, 2 ** 53)} 050000000000`)),
    ],
    [
      'a header name that is not UTF-8',
      'record',
      seal(fromHex(`${head1} 08 00 00 00 00 01 01ff 00`)),
    ],
  ] as const)('refuses %s', (_what, reason, batch) => {
    expectCorrupt(batch, reason);
  });

  it('refuses a batch whose magic is wrong', () => {
    const batch = encodeBatch('CreateTime', [record()]);
    batch[0] = 0x4b; // 'K'
    expectCorrupt(batch, 'magic');
  });

  it('refuses a flipped timestamp-type bit: the crc covers the attributes', () => {
    const batch = encodeBatch('CreateTime', [record()]);
    batch[3] = 0x01;
    expectCorrupt(batch, 'crc');
  });
});

describe('encodeBatch', () => {
  it('writes base = min and max = max of the record timestamps', () => {
    const batch = encodeBatch('CreateTime', [
      record({ timestamp: 5 }),
      record({ timestamp: -3 }),
      record({ timestamp: 4 }),
    ]);
    const view = new DataView(batch.buffer);
    expect(view.getBigInt64(16)).toBe(-3n);
    expect(view.getBigInt64(24)).toBe(5n);
  });

  it('refuses input it cannot encode faithfully', () => {
    expect(() => encodeBatch('CreateTime', [])).toThrow(RangeError);
    expect(() => encodeBatch('CreateTime', [record({ timestamp: 1.5 })])).toThrow(RangeError);
    expect(() => encodeBatch('CreateTime', [record({ timestamp: Number.NaN })])).toThrow(
      RangeError,
    );
    expect(() => encodeBatch('CreateTime', [record({ timestamp: 2 ** 53 })])).toThrow(RangeError);
    expect(() =>
      encodeBatch('CreateTime', [
        record({ timestamp: -(2 ** 52) }),
        record({ timestamp: 2 ** 52 }),
      ]),
    ).toThrow(RangeError);
    expect(() =>
      encodeBatch('CreateTime', [
        record({ headers: [{ name: 'lone \ud800 surrogate', value: null }] }),
      ]),
    ).toThrow(RangeError);
    expect(() =>
      encodeBatch('CreateTime', [record({ headers: [{ name: 'lone \udc00 low', value: null }] })]),
    ).toThrow(RangeError);
  });

  it('refuses offset deltas that do not fit the records', () => {
    const two = [record(), record()];
    expect(() => encodeBatch('CreateTime', two, [0])).toThrow(RangeError);
    expect(() => encodeBatch('CreateTime', two, [1, 1])).toThrow(RangeError);
    expect(() => encodeBatch('CreateTime', two, [2, 1])).toThrow(RangeError);
    expect(() => encodeBatch('CreateTime', two, [-1, 1])).toThrow(RangeError);
    expect(() => encodeBatch('CreateTime', two, [0, 2 ** 53])).toThrow(RangeError);
  });
});

describe('recordSize', () => {
  it('is the bytes one record adds to a batch', () => {
    for (const r of [
      record(),
      record({ key: null, value: null }),
      record({ value: new Uint8Array(200) }),
      record({
        value: new Uint8Array(20_000),
        headers: [{ name: '日本', value: new Uint8Array(300) }],
      }),
    ]) {
      expect(encodeBatch('CreateTime', [r]).length).toBe(BATCH_OVERHEAD_BYTES + recordSize(r));
    }
  });

  it('sums with the real deltas to the batch size', () => {
    const records = Array.from({ length: 300 }, (_, i) => record({ timestamp: 1_000 + i * 100 }));
    const batch = encodeBatch('CreateTime', records);
    const sum = records.reduce((n, r, i) => n + recordSize(r, i, r.timestamp - 1_000), 0);
    expect(batch.length).toBe(BATCH_OVERHEAD_BYTES + sum);
  });

  it('counts the length prefix once it needs two bytes', () => {
    // 1 offset delta + 1 timestamp delta + 1 null key + (1 + 122) value + 1 header count = 127.
    const small = record({ key: null, value: new Uint8Array(122) });
    expect(recordSize(small)).toBe(1 + 127);
    // One more value byte: body 128, whose length prefix takes two bytes.
    const big = record({ key: null, value: new Uint8Array(123) });
    expect(recordSize(big)).toBe(2 + 128);
  });
});
