import { fromBase64, toBase64 } from './base64.ts';
import { invalidArgument } from './errors.ts';

/**
 * How a producer stores values and header values that are not bytes:
 * - `'json'` (default): their JSON text (a string `"hi"` is stored with its quotes), so every
 *   JSON value round-trips;
 * - `'text'`: strings stored as their UTF-8 bytes.
 *
 * A `Uint8Array` is always stored as its exact bytes; a string key as its UTF-8 bytes.
 *
 * @example
 * const logs = tributary.producer({ format: 'text' }); // 'GET /' is stored as GET /, no quotes
 */
export type ValueFormat = 'json' | 'text';

/**
 * How records are read back:
 * - `'json'` (default): values and header values parsed from JSON, keys as strings;
 * - `'text'`: values, header values and keys as strings (UTF-8);
 * - `'binary'`: keys, values and header values as `Uint8Array`, whatever they hold.
 *
 * Reading bytes that are not JSON with `'json'` (or not UTF-8 with `'text'`) fails with
 * `RECORD_NOT_DECODABLE`: use `'binary'`.
 *
 * @example
 * const reader = tributary.reader({ topic: 'images', partition: 0, format: 'binary' });
 */
export type ReadFormat = 'json' | 'text' | 'binary';

/**
 * A value as `F` reads it: bytes, a string, or parsed JSON — `unknown`, for the caller to
 * check or assert (`record.value as Order`).
 *
 * @example
 * const bytes: ValueOf<'binary'> = new Uint8Array([1, 2]);
 */
export type ValueOf<F extends ReadFormat> = F extends 'binary'
  ? Uint8Array
  : F extends 'text'
    ? string
    : unknown;

/**
 * A key as `F` reads it: a string, or bytes for `'binary'`.
 *
 * @example
 * const key: KeyOf<'json'> = 'alice';
 */
export type KeyOf<F extends ReadFormat> = F extends 'binary' ? Uint8Array : string;

/**
 * Headers as a list (names may repeat, as in Kafka) or, for short, an object.
 *
 * @example
 * const listed: ProducerHeaders = [{ name: 'trace', value: 'abc' }, { name: 'trace', value: 'def' }];
 * const short: ProducerHeaders = { trace: 'abc', raw: new Uint8Array([1]) };
 */
export type ProducerHeaders =
  | readonly { readonly name: string; readonly value: unknown }[]
  | Readonly<Record<string, unknown>>;

/**
 * A record to produce. Only `value` is required; `null` is a tombstone.
 *
 * @example
 * const record: ProducerRecord = {
 *   key: 'order-7',
 *   value: { amount: 42 },
 *   headers: { trace: 'abc' },
 *   timestamp: Date.now(),
 * };
 */
export interface ProducerRecord {
  /** Records with the same key go to the same partition (Kafka's murmur2). */
  readonly key?: string | Uint8Array | null;
  /** Any JSON value (or a string with `format: 'text'`), a `Uint8Array`, or `null`. */
  readonly value: unknown;
  readonly headers?: ProducerHeaders;
  /** An explicit partition wins over the key. */
  readonly partition?: number;
  /** Epoch milliseconds or a Date; defaults to the time of the request. */
  readonly timestamp?: number | Date;
}

/**
 * A record read from a partition or polled by a consumer.
 *
 * @example
 * for await (const batch of reader) {
 *   for (const record of batch.records) console.log(record.partition, record.offset, record.value);
 * }
 */
export interface ConsumedRecord<F extends ReadFormat = 'json'> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** Epoch milliseconds. */
  readonly timestamp: number;
  readonly key: KeyOf<F> | null;
  /** `null` is a tombstone. */
  readonly value: ValueOf<F> | null;
  readonly headers: readonly { readonly name: string; readonly value: ValueOf<F> | null }[];
}

/** The `format` query parameter of produce and fetch: how keys and values travel in JSON. */
export type WireFormat = 'json' | 'text' | 'base64';

/** A read format given at run time, checked; `'json'` when absent. */
export function readFormat(format: unknown): ReadFormat {
  if (format === undefined) return 'json';
  if (format === 'json' || format === 'text' || format === 'binary') return format;
  throw invalidArgument(
    `format must be 'json', 'text' or 'binary', got '${String(format)}'.`,
    'format',
  );
}

export const wireFormatFor = (format: ReadFormat): WireFormat =>
  format === 'binary' ? 'base64' : format;

export interface WireRecord {
  key?: string | null;
  value: unknown;
  headers?: { name: string; value: unknown }[];
  partition?: number;
  timestamp?: number;
}

/** Records as one produce request's body carries them, with the format they need. */
export interface WireBatch {
  readonly format: WireFormat;
  readonly records: WireRecord[];
}

const utf8 = new TextEncoder();

/**
 * Encodes records for one produce request. The request's format is the narrowest that
 * carries every record: `base64` when a key, value or header value is a `Uint8Array`,
 * else `text` or `json` as `valueFormat` says. The stored bytes of a record never depend on
 * the others in its request: in a `base64` request, non-binary values are encoded to the
 * bytes `valueFormat` would have stored (their JSON text, or their UTF-8).
 * `partitions[i]`, when given, is sent as record i's partition.
 */
export function encodeRecords(
  records: readonly ProducerRecord[],
  valueFormat: ValueFormat,
  partitions?: readonly number[],
): WireBatch {
  validateRecords(records, valueFormat);
  const binary = records.some(
    (r) =>
      r.key instanceof Uint8Array ||
      r.value instanceof Uint8Array ||
      headerList(r.headers).some((h) => h.value instanceof Uint8Array),
  );
  const format: WireFormat = binary ? 'base64' : valueFormat;
  const value = (v: unknown): unknown => {
    if (v === null) return null;
    if (!binary) return v;
    if (v instanceof Uint8Array) return toBase64(v);
    return toBase64(utf8.encode(valueFormat === 'text' ? String(v) : JSON.stringify(v)));
  };
  return {
    format,
    records: records.map((record, i) => {
      const wire: WireRecord = { value: value(record.value) };
      if (record.key !== undefined && record.key !== null) {
        wire.key = binary ? toBase64(keyBytes(record.key)) : String(record.key);
      }
      const headers = headerList(record.headers);
      if (headers.length > 0)
        wire.headers = headers.map((h) => ({ name: h.name, value: value(h.value) }));
      const partition = partitions?.[i] ?? record.partition;
      if (partition !== undefined) wire.partition = partition;
      if (record.timestamp !== undefined) wire.timestamp = epochMs(record.timestamp);
      return wire;
    }),
  };
}

/** Refuses, with INVALID_ARGUMENT naming the field, records the server would refuse by form. */
export function validateRecords(
  records: readonly ProducerRecord[],
  valueFormat: ValueFormat,
): void {
  if (!Array.isArray(records) || records.length === 0) {
    throw invalidArgument('records must be a non-empty array.', 'records');
  }
  records.forEach((record, index) => {
    validateRecord(record, index, valueFormat);
  });
}

/** A key's bytes as the server stores them: a string's UTF-8, or the bytes themselves. */
export const keyBytes = (key: string | Uint8Array): Uint8Array =>
  typeof key === 'string' ? utf8.encode(key) : key;

function headerList(headers: ProducerHeaders | undefined) {
  if (headers === undefined) return [];
  if (Array.isArray(headers)) return headers;
  return Object.entries(headers).map(([name, value]) => ({ name, value }));
}

const epochMs = (t: number | Date) => (t instanceof Date ? t.getTime() : t);

function validateRecord(record: ProducerRecord, index: number, valueFormat: ValueFormat): void {
  const at = `records[${index}]`;
  if (typeof record !== 'object' || record === null) {
    throw invalidArgument(`${at} must be an object with a value.`, at);
  }
  if (record.value === undefined) {
    throw invalidArgument(`${at}.value is required (null for a tombstone).`, `${at}.value`);
  }
  checkValue(record.value, `${at}.value`, valueFormat);
  const { key } = record;
  if (
    key !== undefined &&
    key !== null &&
    typeof key !== 'string' &&
    !(key instanceof Uint8Array)
  ) {
    throw invalidArgument(`${at}.key must be a string, a Uint8Array or null.`, `${at}.key`);
  }
  if (
    record.partition !== undefined &&
    (!Number.isSafeInteger(record.partition) || record.partition < 0)
  ) {
    throw invalidArgument(`${at}.partition must be an integer >= 0.`, `${at}.partition`);
  }
  if (record.timestamp !== undefined) {
    const t = epochMs(record.timestamp);
    if (!Number.isSafeInteger(t) || t < 0) {
      throw invalidArgument(
        `${at}.timestamp must be epoch milliseconds (an integer >= 0) or a valid Date.`,
        `${at}.timestamp`,
      );
    }
  }
  if (record.headers !== undefined) {
    if (typeof record.headers !== 'object' || record.headers === null) {
      throw invalidArgument(`${at}.headers must be a list or an object.`, `${at}.headers`);
    }
    headerList(record.headers).forEach((h, j) => {
      if (typeof h !== 'object' || h === null || typeof h.name !== 'string') {
        throw invalidArgument(`${at}.headers[${j}] needs a string name.`, `${at}.headers`);
      }
      if (h.value === undefined) {
        throw invalidArgument(`${at}.headers[${j}] needs a value (null allowed).`, `${at}.headers`);
      }
      checkValue(h.value, `${at}.headers[${j}].value`, valueFormat);
    });
  }
}

function checkValue(value: unknown, field: string, valueFormat: ValueFormat): void {
  if (value === null || value instanceof Uint8Array) return;
  if (valueFormat === 'text' && typeof value !== 'string') {
    throw invalidArgument(
      `${field} must be a string, a Uint8Array or null with format 'text'.`,
      field,
    );
  }
  if (valueFormat === 'json' && jsonText(value, field) === undefined) {
    throw invalidArgument(`${field} has no JSON form (a function, a symbol?).`, field);
  }
}

/** `JSON.stringify(value)`, with what it throws on (a BigInt, a cycle) refused as input. */
function jsonText(value: unknown, field: string): string | undefined {
  try {
    return JSON.stringify(value);
  } catch (error: unknown) {
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw invalidArgument(`${field} has no JSON form: ${why}.`, field);
  }
}

/** A record of a fetch or poll answer, in the wire format it was asked in. */
export interface WireFetchedRecord {
  readonly offset: number;
  readonly timestamp: number;
  readonly key: unknown;
  readonly value: unknown;
  readonly headers: readonly { readonly name: string; readonly value: unknown }[];
}

/** A fetched record as `format` reads it: base64 fields become bytes, the rest stay. */
export function decodeRecord<F extends ReadFormat>(
  format: ReadFormat,
  topic: string,
  partition: number,
  wire: WireFetchedRecord,
): ConsumedRecord<F> {
  const field = (v: unknown): unknown =>
    format === 'binary' && typeof v === 'string' ? fromBase64(v) : v;
  const record = {
    topic,
    partition,
    offset: wire.offset,
    timestamp: wire.timestamp,
    key: field(wire.key),
    value: field(wire.value),
    headers: wire.headers.map((h) => ({ name: h.name, value: field(h.value) })),
  };
  // The server renders every field in the format asked (`wireFormatFor(format)`): bytes as
  // base64 (decoded above), strings as text, parsed JSON as json. ConsumedRecord<F> names that.
  return record as ConsumedRecord<F>;
}
