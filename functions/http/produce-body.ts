import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { TributaryError } from '../core/errors.ts';
import { maxRecordTimestamp, type RecordHeader } from '../core/log/batch-codec.ts';
import { maxRecordsPerRequest, type ProduceRecord } from '../core/log/produce.ts';
import {
  closeArray,
  closeObject,
  colon,
  comma,
  JsonBytes,
  notJson,
  openArray,
  openObject,
  quote,
} from './json-bytes.ts';
import type { JsonTextProblem } from './json-text.ts';
import { nameMap } from './name-map.ts';
import { encodeKey, encodeValue, isBase64, type RecordFormat } from './record-format.ts';
import { type BodyKind, jsonTextRefusal, parseJson } from './request.ts';
import { invalidRequest } from './schema-errors.ts';

/**
 * The body of a produce request: JSON `{"records": [...], "producer"?, "leaderEpoch"?}`, or
 * NDJSON, one record per line.
 *
 * Read in two ways that give the same answer. The hot path, {@link scanProduceBody}, reads
 * the bytes once, without building strings or objects, and slices each JSON value out of
 * them to be stored as it is (values are stored as their compact JSON text, which is most
 * often the text sent). It takes what it can prove valid and gives the rest up: a body it
 * cannot take (a mistake, or a shape it does not know) is read by
 * {@link parseProduceBodyWithSchema}, the schema below, which accepts or refuses it and says
 * why in the documented words. test/unit/http/produce-body.test.ts holds the two to the same
 * answers on random and malformed bodies.
 */
export function parseProduceBody(bytes: Buffer, kind: BodyKind, format: RecordFormat): ProduceBody {
  return (
    scanProduceBody(bytes, kind, format) ??
    parseProduceBodyWithSchema(bytes.toString('utf8'), kind, format)
  );
}

export interface ProducerInput {
  readonly id: number;
  readonly epoch: number;
  /** One number, or one per partition (`{"0": 5, "3": 0}`). */
  readonly sequence: number | Readonly<Record<string, number>>;
}

export interface ProduceBody {
  readonly records: ProduceRecord[];
  readonly producer?: ProducerInput;
  readonly leaderEpoch?: number;
}

// ---------------------------------------------------------------------------------------------
// The schema: the reference, and the words for every refusal
// ---------------------------------------------------------------------------------------------

const count = z.number().int().min(0);
/**
 * A partition number as a member name, written one way only (no leading zero), so that no
 * two names in a producer's `sequence` map stand for one partition.
 */
const partitionName = /^(0|[1-9]\d{0,8})$/;
const producerInput = z.strictObject({
  id: count,
  epoch: count,
  sequence: z.union([
    count,
    nameMap(z.string().regex(partitionName, 'a partition number without leading zeros'), count),
  ]),
});
const produceBodySchema = z.strictObject({
  records: z.array(z.unknown()),
  producer: producerInput.optional(),
  leaderEpoch: count.optional(),
});

const recordInput = z
  .strictObject({
    key: z.string().nullable().optional(),
    value: z.unknown(),
    headers: z
      .array(z.strictObject({ name: z.string(), value: z.unknown() }))
      .optional()
      .default([]),
    partition: z.number().int().min(0).optional(),
    timestamp: z.number().int().min(0).max(maxRecordTimestamp).optional(),
  })
  .refine((r) => r.value !== undefined, {
    message: "'value' is required (null for a tombstone)",
    path: ['value'],
  })
  .refine((r) => r.headers.every((h) => h.value !== undefined), {
    message: "every header needs a 'value' (null allowed)",
    path: ['headers'],
  });

/** The body parsed as text and checked against the schema, record by record. */
export function parseProduceBodyWithSchema(
  text: string,
  kind: BodyKind,
  format: RecordFormat,
): ProduceBody {
  if (kind === 'ndjson') {
    const records: ProduceRecord[] = [];
    for (const [i, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      if (records.length === maxRecordsPerRequest) throw tooManyRecords();
      const value = parseJson(line, `NDJSON line ${i + 1}`, (problem) =>
        invalidRecordText(problem, records.length, `line ${i + 1}`),
      );
      records.push(toProduceRecord(value, records.length, format, `line ${i + 1}`));
    }
    return { records };
  }
  const input = parseJson(text, undefined, (problem) => {
    const [field, index] = problem.path;
    return field === 'records' && typeof index === 'number'
      ? invalidRecordText(problem, index)
      : undefined;
  });
  if (Array.isArray(input)) {
    throw new TributaryError(
      'INVALID_REQUEST',
      'The body is an array; a produce request is an object: wrap the records as {"records": [...]}, or send one record per line as application/x-ndjson.',
    );
  }
  const parsed = produceBodySchema.safeParse(input);
  if (!parsed.success) throw invalidRequest(parsed.error, produceBodySchema, input);
  if (parsed.data.records.length > maxRecordsPerRequest) throw tooManyRecords();
  const { producer, leaderEpoch } = parsed.data;
  return {
    records: parsed.data.records.map((r, i) => toProduceRecord(r, i, format, `records[${i}]`)),
    ...(producer && { producer }),
    ...(leaderEpoch !== undefined && { leaderEpoch }),
  };
}

export const tooManyRecords = () =>
  new TributaryError(
    'INVALID_REQUEST',
    `A produce request carries at most ${maxRecordsPerRequest} records, so that the offsets answered fit a response; send the rest in another request.`,
    { field: 'records', limit: maxRecordsPerRequest },
  );

/** A record whose JSON text nests too deep or holds an unpaired surrogate. */
function invalidRecordText(problem: JsonTextProblem, index: number, prefix = ''): TributaryError {
  const { message, details } = jsonTextRefusal(problem, `Record ${index}`, prefix);
  return new TributaryError('INVALID_RECORD', message, { ...details, index });
}

export function toProduceRecord(
  input: unknown,
  index: number,
  format: RecordFormat,
  where: string,
): ProduceRecord {
  const parsed = recordInput.safeParse(input);
  if (!parsed.success) {
    const error = invalidRequest(parsed.error, recordInput, input, where);
    throw new TributaryError('INVALID_RECORD', error.message, { ...error.details, index });
  }
  const r = parsed.data;
  return {
    key: encodeKey(format, r.key, `${where}.key`, index),
    value: encodeValue(format, r.value, `${where}.value`, index),
    headers: r.headers.map((h, j) => ({
      name: h.name,
      value: encodeValue(format, h.value, `${where}.headers[${j}].value`, index),
    })),
    ...(r.partition !== undefined && { partition: r.partition }),
    ...(r.timestamp !== undefined && { timestamp: r.timestamp }),
  };
}

// ---------------------------------------------------------------------------------------------
// The scanner: the hot path
// ---------------------------------------------------------------------------------------------

const newline = 0x0a;
/** What {@link BodyScanner} `#next` returns at the end of an object or array. */
const closed = -2;
const letterN = 0x6e;
const zero = 0x30;
const nine = 0x39;
const dot = 0x2e;
const letterE = 0x65;
const capitalE = 0x45;

/** The members of an object, numbered in order: a bit each in a `seen` mask. */
const bodyField = { records: 0, producer: 1, leaderEpoch: 2 } as const;
const recordField = { key: 0, value: 1, headers: 2, partition: 3, timestamp: 4 } as const;
const headerField = { name: 0, value: 1 } as const;
/** Their names as sent (unescaped), quotes included, in that order. */
const quoted = (fields: object) =>
  Object.keys(fields).map((name) => Buffer.from(JSON.stringify(name)));
const bodyFields = quoted(bodyField);
const recordFields = quoted(recordField);
const headerFields = quoted(headerField);

/**
 * The body read as bytes, or undefined when this reader cannot vouch for it: then the body
 * is either refused, or has a shape only the schema's reading takes (an escaped member name,
 * a repeated field, a line of a no-break space, base64 with an escape), and
 * {@link parseProduceBodyWithSchema} answers. What it returns is exactly what that would.
 */
export function scanProduceBody(
  bytes: Buffer,
  kind: BodyKind,
  format: RecordFormat,
): ProduceBody | undefined {
  // Text that is not UTF-8 is read with replacement characters: the schema's reading.
  if (!isUtf8(bytes)) return undefined;
  const scanner = new BodyScanner(bytes, format);
  return kind === 'ndjson' ? scanner.lines() : scanner.body();
}

class BodyScanner {
  readonly #b: Buffer;
  readonly #json: JsonBytes;
  readonly #format: RecordFormat;
  /** Where what was last read (a record, a value, a member name) ended. */
  #pos = 0;

  constructor(bytes: Buffer, format: RecordFormat) {
    this.#b = bytes;
    this.#json = new JsonBytes(bytes);
    this.#format = format;
  }

  /** `{"records": [...], "producer"?: {...}, "leaderEpoch"?: n}` and nothing else. */
  body(): ProduceBody | undefined {
    const b = this.#b;
    const json = this.#json;
    let i = json.space(0);
    if (b[i] !== openObject) return undefined;
    i = json.space(i + 1);
    let seen = 0;
    let records: ProduceRecord[] | undefined;
    let producer: ProducerInput | undefined;
    let leaderEpoch: number | undefined;
    for (;;) {
      const field = this.#field(i, bodyFields, seen);
      if (field < 0) return undefined;
      seen |= 1 << field;
      i = this.#afterName();
      if (i === notJson) return undefined;
      if (field === bodyField.records) {
        records = this.#records(i);
        if (!records) return undefined;
        i = this.#pos;
      } else if (field === bodyField.producer) {
        const end = json.value(i, 1);
        if (end === notJson || json.loneSurrogate) return undefined;
        producer = producerFrom(JSON.parse(b.toString('utf8', i, end)));
        if (!producer) return undefined;
        i = end;
      } else {
        const end = b[i] === quote ? notJson : json.value(i, 1);
        if (end === notJson) return undefined;
        leaderEpoch = json.numberAt(i, end);
        if (!isCount(leaderEpoch)) return undefined;
        i = end;
      }
      i = this.#next(i, closeObject);
      if (i === notJson) return undefined;
      if (i === closed) break;
    }
    if (!records || json.space(this.#pos) !== b.length) return undefined;
    return {
      records,
      ...(producer && { producer }),
      ...(leaderEpoch !== undefined && { leaderEpoch }),
    };
  }

  /** The records array at `pos`, inside the body's object; leaves #pos past it. */
  #records(pos: number): ProduceRecord[] | undefined {
    const b = this.#b;
    const json = this.#json;
    if (b[pos] !== openArray) return undefined;
    let i = json.space(pos + 1);
    const records: ProduceRecord[] = [];
    if (b[i] === closeArray) {
      this.#pos = i + 1;
      return records;
    }
    for (;;) {
      if (records.length === maxRecordsPerRequest) return undefined;
      const record = this.#record(i, 2);
      if (!record) return undefined;
      records.push(record);
      i = this.#next(this.#pos, closeArray);
      if (i === notJson) return undefined;
      if (i === closed) return records;
    }
  }

  /** One record per line; lines of nothing but whitespace are skipped. */
  lines(): ProduceBody | undefined {
    const b = this.#b;
    const json = this.#json;
    const records: ProduceRecord[] = [];
    for (let start = 0; start <= b.length; ) {
      const newlineAt = b.indexOf(newline, start);
      const lineEnd = newlineAt === -1 ? b.length : newlineAt;
      const i = json.space(start);
      if (i < lineEnd) {
        if (records.length === maxRecordsPerRequest) return undefined;
        const record = this.#record(i, 0);
        // A record must end on its line (JSON whitespace takes newlines too).
        if (!record || this.#pos > lineEnd || json.space(this.#pos) < lineEnd) return undefined;
        records.push(record);
      }
      if (newlineAt === -1) break;
      start = newlineAt + 1;
    }
    return { records };
  }

  /** A record object at `pos`, inside `depth` arrays and objects; leaves #pos past it. */
  #record(pos: number, depth: number): ProduceRecord | undefined {
    const b = this.#b;
    const json = this.#json;
    if (b[pos] !== openObject) return undefined;
    let i = json.space(pos + 1);
    let seen = 0;
    let key: Uint8Array | null = null;
    let value: Uint8Array | null | undefined;
    const headers: RecordHeader[] = [];
    let partition: number | undefined;
    let timestamp: number | undefined;
    if (b[i] === closeObject) return undefined; // no value
    for (;;) {
      const field = this.#field(i, recordFields, seen);
      if (field < 0) return undefined;
      seen |= 1 << field;
      i = this.#afterName();
      if (i === notJson) return undefined;
      if (field === recordField.value) {
        value = this.#value(i, depth + 1);
        if (value === undefined) return undefined;
        i = this.#pos;
      } else if (field === recordField.headers) {
        if (!this.#headers(i, depth + 1, headers)) return undefined;
        i = this.#pos;
      } else if (field !== recordField.key) {
        const number = this.#count(i, depth + 1);
        if (number === undefined) return undefined;
        if (field === recordField.partition) partition = number;
        else if (number > maxRecordTimestamp) return undefined;
        else timestamp = number;
        i = this.#pos;
      } else {
        const end = json.value(i, depth + 1);
        if (end === notJson || json.loneSurrogate) return undefined;
        if (b[i] === quote) {
          const bytes = this.#stringBytes(i, end, json.escaped);
          if (!bytes) return undefined;
          key = bytes;
        } else if (b[i] !== letterN) {
          return undefined;
        }
        i = end;
      }
      i = this.#next(i, closeObject);
      if (i === notJson) return undefined;
      if (i === closed) break;
    }
    if (value === undefined) return undefined;
    return {
      key,
      value,
      headers,
      ...(partition !== undefined && { partition }),
      ...(timestamp !== undefined && { timestamp }),
    };
  }

  /**
   * A record's partition or timestamp at `pos`, as the schema's `count` takes it (an integer
   * from 0 to 2^53 - 1), else undefined; leaves #pos past it.
   */
  #count(pos: number, depth: number): number | undefined {
    const b = this.#b;
    // Most often a few digits: up to 15 of them, without a leading zero, nor a fraction or an
    // exponent after them, are read as JSON.parse reads them without making a string of them.
    let i = pos;
    let number = 0;
    for (; i - pos < 15; i++) {
      const digit = (b[i] as number) - zero;
      if (!(digit >= 0 && digit <= 9)) break;
      number = number * 10 + digit;
    }
    const next = b[i];
    const plain =
      i > pos &&
      !(b[pos] === zero && i - pos > 1) &&
      !(next !== undefined && next >= zero && next <= nine) &&
      next !== dot &&
      next !== letterE &&
      next !== capitalE;
    if (plain) {
      this.#pos = i;
      return number;
    }
    const json = this.#json;
    const end = json.value(pos, depth);
    if (end === notJson || json.loneSurrogate) return undefined;
    const read = b[pos] === quote ? Number.NaN : json.numberAt(pos, end);
    if (!isCount(read)) return undefined;
    this.#pos = end;
    return read;
  }

  /**
   * `"name"` at `pos`, one of `fields` sent unescaped and not seen yet: its index, and #pos
   * past it; else -1.
   */
  #field(pos: number, fields: readonly Buffer[], seen: number): number {
    const b = this.#b;
    if (b[pos] !== quote) return -1;
    // Compared byte by byte in place: names are a few bytes, fewer than a native call costs.
    // A field's bytes hold no quote but its last, so a match is a whole name.
    for (let index = 0; index < fields.length; index++) {
      const field = fields[index] as Buffer;
      let k = 1;
      while (k < field.length && b[pos + k] === field[k]) k++;
      if (k === field.length) {
        this.#pos = pos + k;
        return seen & (1 << index) ? -1 : index;
      }
    }
    return -1;
  }

  /**
   * After a member or element ending at `pos`: where the next one starts, past a comma and
   * whitespace; or {@link closed} when `close` ends the object or array, leaving #pos past
   * it; else {@link notJson}.
   */
  #next(pos: number, close: number): number {
    const json = this.#json;
    const i = json.space(pos);
    const c = this.#b[i];
    if (c === comma) return json.space(i + 1);
    if (c !== close) return notJson;
    this.#pos = i + 1;
    return closed;
  }

  /** Past the colon after the member name #field read, and whitespace: where its value starts. */
  #afterName(): number {
    const i = this.#json.space(this.#pos);
    return this.#b[i] === colon ? this.#json.space(i + 1) : notJson;
  }

  /**
   * A record or header value at `pos` as the format stores it (null for JSON null), or
   * undefined; leaves #pos past it.
   */
  #value(pos: number, depth: number): Uint8Array | null | undefined {
    const b = this.#b;
    const json = this.#json;
    const end = json.value(pos, depth);
    if (end === notJson || json.loneSurrogate || json.outOfRange) return undefined;
    this.#pos = end;
    if (b[pos] === letterN) return null;
    if (this.#format === 'json') {
      // Stored as JSON.stringify would write it: most often the very bytes sent.
      if (json.canonical) return b.subarray(pos, end);
      return Buffer.from(JSON.stringify(JSON.parse(b.toString('utf8', pos, end))));
    }
    return b[pos] === quote ? this.#stringBytes(pos, end, json.escaped) : undefined;
  }

  /** The bytes of the string at [pos, end) in the format: its UTF-8, or what its base64 says. */
  #stringBytes(pos: number, end: number, escaped: boolean): Uint8Array | undefined {
    const b = this.#b;
    if (this.#format === 'base64') {
      if (escaped) return undefined;
      const text = b.toString('latin1', pos + 1, end - 1);
      return isBase64(text) ? Buffer.from(text, 'base64') : undefined;
    }
    if (!escaped) return b.subarray(pos + 1, end - 1);
    return Buffer.from(this.#decodeString(pos, end));
  }

  #decodeString(pos: number, end: number): string {
    const text: unknown = JSON.parse(this.#b.toString('utf8', pos, end));
    return String(text);
  }

  /** `[{"name": "...", "value": ...}, ...]` at `pos`, into `headers`; leaves #pos past it. */
  #headers(pos: number, depth: number, headers: RecordHeader[]): boolean {
    const b = this.#b;
    const json = this.#json;
    if (b[pos] !== openArray) return false;
    let i = json.space(pos + 1);
    if (b[i] === closeArray) {
      this.#pos = i + 1;
      return true;
    }
    for (;;) {
      if (b[i] !== openObject) return false;
      i = json.space(i + 1);
      let seen = 0;
      let name: string | undefined;
      let value: Uint8Array | null | undefined;
      for (;;) {
        const field = this.#field(i, headerFields, seen);
        if (field < 0) return false;
        seen |= 1 << field;
        i = this.#afterName();
        if (i === notJson) return false;
        if (field === headerField.name) {
          if (b[i] !== quote) return false;
          const end = json.value(i, depth + 2);
          if (end === notJson || json.loneSurrogate) return false;
          name = json.escaped ? this.#decodeString(i, end) : b.toString('utf8', i + 1, end - 1);
          i = end;
        } else {
          value = this.#value(i, depth + 2);
          if (value === undefined) return false;
          i = this.#pos;
        }
        i = this.#next(i, closeObject);
        if (i === notJson) return false;
        if (i === closed) break;
      }
      if (name === undefined || value === undefined) return false;
      headers.push({ name, value });
      i = this.#next(this.#pos, closeArray);
      if (i === notJson) return false;
      if (i === closed) return true;
    }
  }
}

/** An integer the schema's `count` takes: 0 to 2^53 - 1. */
const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `{"id", "epoch", "sequence"}` as the schema takes it, else undefined. */
function producerFrom(input: unknown): ProducerInput | undefined {
  if (!isObject(input)) return undefined;
  if (Object.keys(input).sort().join() !== 'epoch,id,sequence') return undefined;
  const { id, epoch, sequence } = input;
  if (!isCount(id) || !isCount(epoch)) return undefined;
  if (isCount(sequence)) return { id, epoch, sequence };
  if (!isObject(sequence)) return undefined;
  const perPartition: Record<string, number> = {};
  for (const [partition, first] of Object.entries(sequence)) {
    if (!partitionName.test(partition) || !isCount(first)) return undefined;
    perPartition[partition] = first;
  }
  return { id, epoch, sequence: perPartition };
}
