import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TributaryError } from '../../../functions/core/errors.ts';
import type { FetchedRecord, FetchResult } from '../../../functions/core/log/fetch.ts';
import { type RecordFormat, renderRecord } from '../../../functions/http/record-format.ts';
import { renderRecordsJson } from '../../../functions/http/records-json.ts';
import { Random } from '../../support/random.ts';

/**
 * A fetch's answer written as bytes against the same answer made the plain way — every record
 * rendered to an object and JSON.stringify'd, joined, cut before the byte budget — on random
 * stored bytes in every format: the same text, byte for byte, the same records, or the same
 * refusal. Repeat a run with RECORDS_JSON_SEED=<seed>.
 */
const seed = Number(process.env.RECORDS_JSON_SEED ?? randomInt(2 ** 31));
const formats: readonly RecordFormat[] = ['json', 'text', 'base64'];
const utf8 = new TextEncoder();

/** The answer as the fetch route made it before it wrote bytes. */
function plainAnswer(format: RecordFormat, result: FetchResult, maxBytes: number) {
  const rendered: string[] = [];
  let size = 0;
  let nextOffset = result.nextOffset;
  for (const record of result.records) {
    const text = JSON.stringify(renderRecord(format, record));
    size += Buffer.byteLength(text) + 1;
    if (rendered.length > 0 && size > maxBytes) {
      nextOffset = record.offset;
      break;
    }
    rendered.push(text);
  }
  const tail = JSON.stringify({
    nextOffset,
    highWatermark: result.highWatermark,
    logStartOffset: result.logStartOffset,
  });
  return { body: `{"records":[${rendered.join(',')}],${tail.slice(1)}`, count: rendered.length };
}

function outcome(answer: () => { body: string | Buffer; count: number }): unknown {
  try {
    const { body, count } = answer();
    return { body: body.toString(), count };
  } catch (error: unknown) {
    if (!(error instanceof TributaryError)) return { thrown: String(error) };
    return { code: error.code, message: error.message, details: error.details };
  }
}

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const texts = [
  '',
  'plain',
  'é 😀 中文',
  'a"b',
  'back\\slash',
  'line\nbreak',
  '\u0000\u001f\u007f',
  '\u2028',
  '\ufeffbom',
  '{"a": 1}',
  ' 1',
  '1 ',
  '"\\ud800"',
  '"\\ud83d\\ude00"',
  '"\\/"',
  '{"b":1,"1":2}',
  '{"a":1,"a":2}',
  '[1.0,1e2,-0]',
  '1e400',
  nested(100),
  nested(101),
  'null',
  'true',
  '"text"',
  'not json',
];

function randomBytes(r: Random): Uint8Array | null {
  return r.weighted<Uint8Array | null>([
    [1, () => null],
    [4, () => utf8.encode(r.pick(texts))],
    [
      3,
      () =>
        utf8.encode(
          JSON.stringify(
            r.pick([
              { user: 'u1', n: [1, 2.5, null, true], s: 'é"\\\n' },
              'a string',
              42,
              -0.5,
              [],
              {},
            ]),
          ),
        ),
    ],
    [1, () => new Uint8Array(Array.from({ length: r.int(6) }, () => r.int(256)))],
    [0.5, () => new Uint8Array([0xef, 0xbb, 0xbf, 0x31])],
    [0.5, () => new Uint8Array([0xed, 0xa0, 0x80])],
  ]);
}

function randomResult(r: Random): FetchResult {
  const base = r.int(1000);
  const records: FetchedRecord[] = Array.from({ length: 1 + r.int(6) }, (_, i) => ({
    offset: base + i * (1 + r.int(2)),
    timestamp: r.pick([0, -1, 1_700_000_000_000 + r.int(1000), 2 ** 53 - 1]),
    key: randomBytes(r),
    value: randomBytes(r),
    headers: Array.from({ length: r.chance(0.3) ? 1 + r.int(2) : 0 }, () => ({
      name: r.pick(['trace', '', 'é"\\', '\u0001']),
      value: randomBytes(r),
    })),
  }));
  const last = records.at(-1)?.offset ?? base;
  return { records, nextOffset: last + 1, highWatermark: last + 1 + r.int(3), logStartOffset: 0 };
}

describe("a fetch's answer, written as bytes", () => {
  it.each(formats)('is the plain answer, byte for byte, format=%s', (format) => {
    const r = new Random(seed + formats.indexOf(format));
    for (let i = 0; i < 2000; i++) {
      const result = randomResult(r);
      const maxBytes = r.pick([5_500_000, 1, 60, 200, 400]);
      const where = `seed ${seed}, format=${format}, maxBytes ${maxBytes}`;
      expect(
        outcome(() => renderRecordsJson(format, result, maxBytes)),
        where,
      ).toEqual(outcome(() => plainAnswer(format, result, maxBytes)));
    }
  });

  it('copies stored JSON in as it is and counts the bytes of the records it holds', () => {
    const value = utf8.encode('{"user":"u1","tags":["a","é"]}');
    const record = { offset: 7, timestamp: 1, key: utf8.encode('k'), value, headers: [] };
    const answer = renderRecordsJson(
      'json',
      {
        records: [record, { ...record, offset: 8 }],
        nextOffset: 9,
        highWatermark: 9,
        logStartOffset: 0,
      },
      5_500_000,
    );
    const one =
      '{"offset":7,"timestamp":1,"key":"k","value":{"user":"u1","tags":["a","é"]},"headers":[]}';
    expect(answer.body.toString()).toBe(
      `{"records":[${one},${one.replace('"offset":7', '"offset":8')}],"nextOffset":9,"highWatermark":9,"logStartOffset":0}`,
    );
    expect(answer.count).toBe(2);
    expect(answer.size).toBe(2 * (Buffer.byteLength(one) + 1));
  });
});
