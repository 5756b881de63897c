import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TributaryError } from '../../../functions/core/errors.ts';
import type { ProduceRecord } from '../../../functions/core/log/produce.ts';
import {
  type ProduceBody,
  parseProduceBody,
  parseProduceBodyWithSchema,
  scanProduceBody,
} from '../../../functions/http/produce-body.ts';
import type { RecordFormat } from '../../../functions/http/record-format.ts';
import type { BodyKind } from '../../../functions/http/request.ts';
import { Random } from '../../support/random.ts';

/**
 * The produce body's two readings side by side: the byte scanner (the hot path) and the
 * schema (the reference, and the words of every refusal). On random bodies — JSON written
 * with odd spacing, escapes and number forms, then broken byte by byte — every body the
 * scanner takes must give exactly what the schema gives, and parseProduceBody must answer
 * exactly as the schema does: the same records, bytes for bytes, or the same error. Repeat
 * a run with PRODUCE_BODY_SEED=<seed>.
 */
const seed = Number(process.env.PRODUCE_BODY_SEED ?? randomInt(2 ** 31));
const formats: readonly RecordFormat[] = ['json', 'text', 'base64'];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** What a reading answered, comparable with toEqual: records with bytes as hex, or the error. */
function outcome(read: () => ProduceBody | undefined): unknown {
  try {
    const body = read();
    if (body === undefined) return 'scanner declined';
    return { ...body, records: body.records.map(recordShape) };
  } catch (error: unknown) {
    if (!(error instanceof TributaryError)) return { thrown: String(error) };
    return { code: error.code, message: error.message, details: error.details };
  }
}

const hex = (bytes: Uint8Array | null) =>
  bytes === null ? null : Buffer.from(bytes).toString('hex');

function recordShape(record: ProduceRecord) {
  return {
    ...record,
    key: hex(record.key),
    value: hex(record.value),
    headers: record.headers.map((h) => ({ name: h.name, value: hex(h.value) })),
  };
}

// ---------------------------------------------------------------------------------------------
// Random JSON, written the many ways JSON can be written
// ---------------------------------------------------------------------------------------------

const strings = [
  '',
  'a',
  'value',
  'key',
  'headers',
  'partition',
  'é',
  '😀',
  '中文',
  'a"b',
  'back\\slash',
  'line\nbreak',
  'tab\t',
  '\u0000\u001f\u007f',
  '\u2028\u2029',
  '\ufeffbom',
  'x/y',
  'https://example.com/a/b',
  '0',
  '12',
  '__proto__',
  'aGVsbG8=',
  'AP8BgA==',
  'not base64!',
  '\ud800',
  'a\udfff',
  '\ud83d\ude00',
];
const numbers = [0, 1, -1, 7, 0.5, -0.25, 1e21, 1e-7, 2 ** 53 - 1, 2 ** 53, 123456789012345, 1.5];

function randomString(r: Random): string {
  return r.weighted<string>([
    [6, () => r.pick(strings)],
    [
      3,
      () => Array.from({ length: r.int(20) }, () => String.fromCharCode(32 + r.int(95))).join(''),
    ],
    [1, () => Array.from({ length: r.int(6) }, () => r.pick(strings)).join('')],
  ]);
}

function randomJson(r: Random, depth = 0): Json {
  const leaf = depth >= 4;
  return r.weighted<Json>([
    [1, () => null],
    [1, () => r.chance(0.5)],
    [2, () => r.pick(numbers)],
    [3, () => randomString(r)],
    [leaf ? 0 : 2, () => Array.from({ length: r.int(4) }, () => randomJson(r, depth + 1))],
    [
      leaf ? 0 : 2,
      () => {
        const object: { [key: string]: Json } = {};
        for (let i = r.int(4); i > 0; i--) object[randomString(r)] = randomJson(r, depth + 1);
        return object;
      },
    ],
  ]);
}

/** Text JSON.parse reads as `value`, spaced, escaped and numbered at random (or not at all). */
type Oddity = 'space' | 'twice' | 'order' | 'escape' | 'number';

class Writer {
  readonly #r: Random;
  /** How often each oddity is written: a few of them at a time, so each is also met alone. */
  readonly #noise: Readonly<Record<Oddity, number>>;
  readonly #spaces: readonly string[];
  constructor(r: Random, noise: number, lines: boolean) {
    this.#r = r;
    const some = () => (r.chance(0.5) ? noise : 0);
    this.#noise = { space: some(), twice: some(), order: some(), escape: some(), number: some() };
    this.#spaces = lines ? [' ', '\t', '\r', '  '] : [' ', '\t', '\r', '\n', ' \n '];
  }

  #odd(kind: Oddity): boolean {
    const p = this.#noise[kind];
    return p > 0 && this.#r.chance(p);
  }

  space(): string {
    return this.#odd('space') ? this.#r.pick(this.#spaces) : '';
  }

  write(value: unknown): string {
    const s = () => this.space();
    if (value instanceof Raw) return value.text;
    if (typeof value === 'string') return this.string(value);
    if (typeof value === 'number') return this.number(value);
    if (Array.isArray(value))
      return `[${s()}${value.map((v) => this.write(v)).join(`${s()},${s()}`)}${s()}]`;
    if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value);
      // Members in another order than the object's (which lists array indexes first).
      if (this.#odd('order')) entries.reverse();
      const members = entries.map(([k, v]) => `${this.string(k)}${s()}:${s()}${this.write(v)}`);
      // A member written twice: JSON.parse keeps the last.
      if (members.length > 0 && this.#odd('twice'))
        members.unshift(`${this.string(this.#r.pick(Object.keys(value)))}:1`);
      return `{${s()}${members.join(`${s()},${s()}`)}${s()}}`;
    }
    return JSON.stringify(value) ?? 'null';
  }

  string(text: string): string {
    if (!this.#odd('escape')) return JSON.stringify(text);
    let out = '"';
    for (const char of text) {
      const code = char.codePointAt(0) ?? 0;
      if (this.#r.chance(0.1)) {
        // Every UTF-16 unit as \u, in either case.
        for (let i = 0; i < char.length; i++) {
          const unit = char.charCodeAt(i).toString(16).padStart(4, '0');
          out += `\\u${this.#r.chance(0.5) ? unit : unit.toUpperCase()}`;
        }
      } else if (char === '/') {
        out += this.#r.chance(0.5) ? '\\/' : '/';
      } else {
        const escaped = JSON.stringify(char).slice(1, -1);
        // Control characters as JSON.stringify writes them, or in upper case.
        out +=
          code >= 0x20 && char !== '"' && char !== '\\'
            ? char
            : escaped.startsWith('\\u') && this.#r.chance(0.5)
              ? `\\u${escaped.slice(2).toUpperCase()}`
              : escaped;
      }
    }
    return `${out}"`;
  }

  number(n: number): string {
    if (!this.#odd('number')) return JSON.stringify(n);
    return this.#r
      .pick([
        `${n}`,
        Number.isInteger(n) ? `${n}.0` : `${n}`,
        n.toExponential(),
        n.toExponential().toUpperCase(),
        Object.is(n, 0) ? '-0' : `${n}`,
      ])
      .replace('e+', this.#r.chance(0.5) ? 'e+' : 'e');
  }
}

// ---------------------------------------------------------------------------------------------
// Produce bodies
// ---------------------------------------------------------------------------------------------

/** Number text written as it is. */
class Raw {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}
const edgeCounts: unknown[] = [
  0,
  1,
  2,
  -1,
  1.5,
  2 ** 53,
  '1',
  null,
  -0,
  ...['1e400', '-0', '1.0', '1E2', '2e-1', '12345678901234567890', '9007199254740993'].map(
    (text) => new Raw(text),
  ),
];

function randomRecord(r: Random, format: RecordFormat): Record<string, unknown> {
  const value =
    format === 'json'
      ? randomJson(r)
      : r.weighted<unknown>([
          [
            6,
            () =>
              format === 'text' ? randomString(r) : r.pick(['aGVsbG8=', '', 'AP8BgA==', 'QQ==']),
          ],
          [1, () => null],
          [1, () => randomJson(r)],
        ]);
  const record: Record<string, unknown> = { value };
  if (r.chance(0.5))
    record.key = r.weighted<unknown>([
      [
        4,
        () =>
          format === 'base64' && r.chance(0.9) ? r.pick(['a2V5', 'AP8=', '']) : randomString(r),
      ],
      [1, () => null],
      [0.3, () => 5],
    ]);
  if (r.chance(0.3)) {
    record.headers = Array.from({ length: r.int(3) }, () => ({
      name: randomString(r),
      value: format === 'json' ? randomJson(r) : r.pick(['aGVsbG8=', 'x', null]),
    }));
  }
  if (r.chance(0.3)) record.partition = r.chance(0.8) ? r.int(3) : r.pick(edgeCounts);
  if (r.chance(0.2))
    record.timestamp = r.chance(0.8) ? 1_700_000_000_000 + r.int(1000) : r.pick(edgeCounts);
  // Nested to about the limit of 100, counting the body's own levels.
  if (r.chance(0.03)) {
    const depth = 95 + r.int(6);
    record.value = new Raw(`${'['.repeat(depth)}${']'.repeat(depth)}`);
  }
  if (r.chance(0.03)) delete record.value;
  if (r.chance(0.02)) record.vaule = 1;
  // Members in any order.
  return Object.fromEntries(Object.entries(record).sort(() => r.next() - 0.5));
}

function randomBody(r: Random, kind: BodyKind, format: RecordFormat, noise: number): Buffer {
  const writer = new Writer(r, noise, kind === 'ndjson');
  const records = Array.from({ length: r.int(5) + (r.chance(0.9) ? 1 : 0) }, () =>
    randomRecord(r, format),
  );
  if (kind === 'ndjson') {
    const lines = records.map(
      (record) => `${writer.space()}${writer.write(record)}${writer.space()}`,
    );
    if (r.chance(0.2)) {
      // Blank lines; with noise, also of what trim() takes for whitespace but JSON does not.
      const blank = noise > 0 ? ['', ' ', '\r', '\u00a0', '\t ', '\u2028'] : ['', ' ', '\t '];
      lines.splice(r.int(lines.length + 1), 0, r.pick(blank));
    }
    return Buffer.from(lines.join(r.chance(0.2) ? '\r\n' : '\n') + (r.chance(0.5) ? '\n' : ''));
  }
  const body: Record<string, unknown> = { records };
  if (r.chance(0.2)) {
    body.producer = r.weighted<unknown>([
      [4, () => ({ id: r.int(10), epoch: r.int(3), sequence: r.int(100) })],
      [2, () => ({ id: 1, epoch: 0, sequence: { 0: 5, 2: 0 } })],
      [1, () => ({ id: 1, epoch: 0, sequence: { x: 1 } })],
      [1, () => ({ id: r.pick(edgeCounts), epoch: 0, sequence: 0 })],
      [1, () => ({ id: 1, epoch: 0 })],
      [1, () => null],
    ]);
  }
  if (r.chance(0.15)) body.leaderEpoch = r.chance(0.7) ? r.int(5) : r.pick(edgeCounts);
  if (r.chance(0.02)) body.extra = true;
  const ordered = Object.fromEntries(Object.entries(body).sort(() => r.next() - 0.5));
  return Buffer.from(`${writer.space()}${writer.write(ordered)}${writer.space()}`);
}

/** The bytes with one thing broken: cut short, a byte changed, dropped or added, a BOM, or depth. */
function breakBytes(r: Random, bytes: Buffer): Buffer {
  const at = r.int(bytes.length + 1);
  const interesting = [
    0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x5c, 0x20, 0x0a, 0x30, 0x2d, 0x65, 0x2e, 0x80, 0xff,
    0xc3, 0xed, 0x00,
  ];
  return r.weighted<Buffer>([
    [2, () => bytes.subarray(0, at)],
    [
      2,
      () =>
        Buffer.concat([
          bytes.subarray(0, at),
          Buffer.from([r.pick(interesting)]),
          bytes.subarray(at + 1),
        ]),
    ],
    [2, () => Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)])],
    [
      2,
      () =>
        Buffer.concat([
          bytes.subarray(0, at),
          Buffer.from([r.pick(interesting)]),
          bytes.subarray(at),
        ]),
    ],
    [0.5, () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes])],
    // A line broken between two tokens, where JSON would take the newline as whitespace.
    [
      1,
      () => Buffer.from(bytes.toString('utf8').replace(r.pick([/,"/, /:/, /\[/]), (m) => `${m}\n`)),
    ],
  ]);
}

describe('the produce body, scanned as bytes and parsed by the schema', () => {
  /** Compares the readings of one body; says whether the schema took it and the scanner did. */
  const compare = (bytes: Buffer, kind: BodyKind, format: RecordFormat) => {
    const where = `seed ${seed}, ${kind}, format=${format}, body ${JSON.stringify(bytes.toString('latin1').slice(0, 2000))}`;
    const reference = outcome(() =>
      parseProduceBodyWithSchema(bytes.toString('utf8'), kind, format),
    );
    const scanned = outcome(() => scanProduceBody(bytes, kind, format));
    if (scanned !== 'scanner declined') expect(scanned, where).toEqual(reference);
    expect(
      outcome(() => parseProduceBody(bytes, kind, format)),
      where,
    ).toEqual(reference);
    const accepted = typeof reference === 'object' && reference !== null && 'records' in reference;
    return { accepted, scanned: scanned !== 'scanner declined', where };
  };

  it.each(formats)(
    'answers as the schema does, format=%s, on random and broken bodies',
    (format) => {
      const r = new Random(seed + formats.indexOf(format));
      let plain = 0;
      for (let i = 0; i < 1500; i++) {
        const kind: BodyKind = r.chance(0.3) ? 'ndjson' : 'json';
        const noise = r.pick([0, 0.1, 0.3]);
        const body = randomBody(r, kind, format, noise);
        const { accepted, scanned, where } = compare(body, kind, format);
        // The hot path: a valid body written as JSON.stringify writes it is the scanner's to take.
        if (accepted && noise === 0) {
          expect(scanned, where).toBe(true);
          plain++;
        }
        compare(breakBytes(r, body), kind, format);
      }
      expect(plain, `seed ${seed}`).toBeGreaterThan(50);
    },
  );

  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const edges: [string, BodyKind, RecordFormat, string][] = [
    [
      'an escape of a control character in upper case',
      'json',
      'json',
      '{"records":[{"value":"\\u001F"}]}',
    ],
    ['an escape in lower case', 'json', 'json', '{"records":[{"value":"\\u001f\\n"}]}'],
    ['an escaped slash', 'json', 'json', '{"records":[{"value":"a\\/b"}]}'],
    ['an escaped pair', 'json', 'json', '{"records":[{"value":"\\ud83d\\ude00"}]}'],
    ['a lone surrogate', 'json', 'json', '{"records":[{"value":"\\ud83d"}]}'],
    ['an array index after a name', 'json', 'json', '{"records":[{"value":{"b":1,"1":2}}]}'],
    [
      'a name that is not an index',
      'json',
      'json',
      '{"records":[{"value":{"b":1,"01":2,"-1":3}}]}',
    ],
    ['a repeated name', 'json', 'json', '{"records":[{"value":{"a":1,"b":2,"a":3}}]}'],
    ['__proto__', 'json', 'json', '{"records":[{"value":{"__proto__":{"x":1}}}]}'],
    [
      'numbers in other forms',
      'json',
      'json',
      '{"records":[{"value":[-0,1E2,1.50,1e400,123456789012345678]}]}',
    ],
    ['a partition of -0', 'json', 'json', '{"records":[{"value":1,"partition":-0}]}'],
    ['a partition of 1.0', 'json', 'json', '{"records":[{"value":1,"partition":1.0}]}'],
    ['a partition of 007', 'json', 'json', '{"records":[{"value":1,"partition":007}]}'],
    ['a partition of 1e2', 'json', 'json', '{"records":[{"value":1,"partition":1e2}]}'],
    ['a partition of 2E0', 'json', 'json', '{"records":[{"value":1,"partition":2E0}]}'],
    ['a partition of 1-', 'json', 'json', '{"records":[{"value":1,"partition":1-}]}'],
    ['a partition as a string', 'json', 'json', '{"records":[{"value":1,"partition":"1"}]}'],
    ['a partition of null', 'json', 'json', '{"records":[{"value":1,"partition":null}]}'],
    ['a partition of [1]', 'json', 'json', '{"records":[{"value":1,"partition":[1]}]}'],
    ['a partition last', 'json', 'json', '{"records":[{"value":1,"partition":0}]}'],
    ['a partition cut short', 'json', 'json', '{"records":[{"value":1,"partition":12'],
    ['a partition before a space', 'json', 'json', '{"records":[{"partition":3 ,"value":1}]}'],
    [
      'a timestamp of 15 digits',
      'json',
      'json',
      '{"records":[{"value":1,"timestamp":999999999999999}]}',
    ],
    [
      'a timestamp of 2^53 - 1',
      'json',
      'json',
      '{"records":[{"value":1,"timestamp":9007199254740991}]}',
    ],
    [
      'a timestamp of 2^53',
      'json',
      'json',
      '{"records":[{"value":1,"timestamp":9007199254740992}]}',
    ],
    ['a timestamp of 1e400', 'json', 'json', '{"records":[{"value":1,"timestamp":1e400}]}'],
    ['a record field twice', 'json', 'json', '{"records":[{"value":1,"value":2}]}'],
    ['a body field twice', 'json', 'json', '{"records":[],"records":[{"value":1}]}'],
    ['an escaped field name', 'json', 'json', '{"records":[{"\\u0076alue":1}]}'],
    ['a byte order mark', 'json', 'json', '\ufeff{"records":[{"value":1}]}'],
    ['a value 97 deep in a body', 'json', 'json', `{"records":[{"value":${nested(97)}}]}`],
    ['a value 98 deep in a body', 'json', 'json', `{"records":[{"value":${nested(98)}}]}`],
    [
      'a header value 95 deep',
      'json',
      'json',
      `{"records":[{"value":1,"headers":[{"name":"h","value":${nested(95)}}]}]}`,
    ],
    [
      'a header value 96 deep',
      'json',
      'json',
      `{"records":[{"value":1,"headers":[{"name":"h","value":${nested(96)}}]}]}`,
    ],
    ['a value 99 deep on a line', 'ndjson', 'json', `{"value":${nested(99)}}`],
    ['a value 100 deep on a line', 'ndjson', 'json', `{"value":${nested(100)}}`],
    ['a record over two lines', 'ndjson', 'json', '{"value":\n1}\n'],
    ['a record and more on one line', 'ndjson', 'json', '{"value":1} {"value":2}\n'],
    ['lines ending in CR LF', 'ndjson', 'json', '{"value":1}\r\n\r\n{"value":2}\r\n'],
    ['a line of a no-break space', 'ndjson', 'json', '{"value":1}\n\u00a0\n'],
    [
      'text with escapes',
      'json',
      'text',
      '{"records":[{"key":"k\\u00e9","value":"\\"q\\"\\u0000"}]}',
    ],
    ['base64 with an escape', 'json', 'base64', '{"records":[{"value":"QQ\\u003d="}]}'],
    ['base64 not padded', 'json', 'base64', '{"records":[{"value":"QQ"}]}'],
    [
      'a sequence per partition',
      'json',
      'json',
      '{"records":[{"value":1}],"producer":{"id":1,"epoch":0,"sequence":{"0":1,"007":2}}}',
    ],
    [
      'a sequence per partition that is not a number',
      'json',
      'json',
      '{"records":[{"value":1}],"producer":{"id":1,"epoch":0,"sequence":{"0":1,"1":"2"}}}',
    ],
    [
      'a producer field twice',
      'json',
      'json',
      '{"records":[{"value":1}],"producer":{"id":1,"epoch":0,"sequence":1,"id":2}}',
    ],
    ['a leader epoch of 1e0', 'json', 'json', '{"records":[{"value":1}],"leaderEpoch":1e0}'],
  ];
  it.each(edges)('answers as the schema does: %s', (_, kind, format, text) => {
    compare(Buffer.from(text), kind, format);
  });

  // The scanner reads long strings a 32-bit word of the buffer at a time: a byte it must see
  // is put at every place in a word, and in the bytes before the first word and after the last.
  it.each([
    ['a quote', '"'],
    ['an escaped quote', '\\"'],
    ['an escaped newline', '\\n'],
    ['an escaped slash', '\\/'],
    ['a \\u escape', '\\u00e9'],
    ['an escaped pair', '\\ud83d\\ude00'],
    ['a lone surrogate', '\\udc00'],
    ['an escape cut short', '\\u00'],
    ['a control character', '\u0001'],
    ['a tab', '\t'],
    ['a DEL', '\u007f'],
    ['a character of two bytes', 'é'],
    ['a character of four bytes', '😀'],
  ])(
    'answers as the schema does on long strings holding %s at every place in a word',
    (_, special) => {
      for (let length = 0; length < 40; length++) {
        for (let at = 0; at <= length; at++) {
          const text = `${'x'.repeat(at)}${special}${'y'.repeat(length - at)}`;
          const body = `{"records":[{"key":"${text}","value":"${text}"}]}`;
          // At each offset in the buffer, so the words start anywhere in the body.
          const offset = (length + at) % 8;
          const backing = Buffer.alloc(offset + Buffer.byteLength(body));
          backing.write(body, offset);
          const bytes = backing.subarray(offset);
          for (const format of formats) compare(bytes, 'json', format);
        }
      }
    },
  );

  it('answers as the schema does on bytes that are not UTF-8', () => {
    const body = Buffer.concat([
      Buffer.from('{"records":[{"value":"'),
      Buffer.from([0xc3, 0x28, 0xed, 0xa0, 0x80]),
      Buffer.from('"}]}'),
    ]);
    for (const format of formats) compare(body, 'json', format);
  });

  it('takes bodies written as JSON.stringify writes them without the schema', () => {
    const r = new Random(seed);
    for (let i = 0; i < 300; i++) {
      const records = Array.from({ length: 1 + r.int(5) }, () => ({
        key: r.chance(0.5) ? `k${r.int(100)}` : null,
        value: randomJson(r),
        headers: r.chance(0.3) ? [{ name: 'trace', value: randomJson(r) }] : [],
        ...(r.chance(0.3) && { partition: r.int(3) }),
      }));
      const text = JSON.stringify({ records });
      if (/\\u[dD][89abAB]/.test(text) || /\\u[dD][c-fC-F]/.test(text)) continue; // refused
      const bytes = Buffer.from(text);
      expect(scanProduceBody(bytes, 'json', 'json'), `seed ${seed}: ${text}`).toBeDefined();
      expect(compare(bytes, 'json', 'json')).toMatchObject({ accepted: true, scanned: true });
    }
  });

  it('stores a value as the bytes sent when they are compact JSON, and compacts others', () => {
    const read = (text: string) =>
      Buffer.from(
        scanProduceBody(Buffer.from(text), 'json', 'json')?.records[0]?.value ?? [],
      ).toString();
    expect(read('{"records":[{"value":{"a":[1,"é",null]}}]}')).toBe('{"a":[1,"é",null]}');
    expect(read('{"records":[{"value": { "a" : [1, 2.50, 1E2] } }]}')).toBe('{"a":[1,2.5,100]}');
    expect(read('{"records":[{"value":{"b":1,"2":2,"b":3}}]}')).toBe('{"2":2,"b":3}');
    expect(read('{"records":[{"value":"\\u0041\\/\\ud83d\\ude00"}]}')).toBe('"A/😀"');
    expect(read('{"records":[{"value":-0}]}')).toBe('0');
  });
});
