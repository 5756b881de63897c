import { Transform } from 'node:stream';
import { closest } from '../src/closest.ts';
import type { ProducerRecord } from '../src/index.ts';
import { InputError } from './exit-codes.ts';

/**
 * How `produce` reads a line (or, with NDJSON, a record's key, value and header values):
 * - `text`: the string itself, stored as its UTF-8 bytes (the default for lines);
 * - `json`: a JSON value, stored as its compact JSON text (the default for NDJSON);
 * - `base64`: base64 of the exact bytes to store (keys too).
 */
export type WriteAs = 'text' | 'json' | 'base64';

export interface LineOptions {
  readonly as: WriteAs;
  /** Each line is a record object `{"key", "value", "headers", "partition", "timestamp"}`. */
  readonly ndjson: boolean;
  /** Split the key from the value at the first occurrence (`kcat -K`). */
  readonly keySeparator: string | undefined;
  /** For records that name none. */
  readonly partition: number | undefined;
  /** Added to every record, after its own; values stored as UTF-8. */
  readonly headers: readonly { readonly name: string; readonly value: string }[];
}

const recordFields = ['key', 'value', 'headers', 'partition', 'timestamp'];
const utf8 = new TextEncoder();
const base64Text = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The record one input line stands for; `lineNumber` (from 1) names the line in errors. */
export function recordFromLine(
  line: string,
  lineNumber: number,
  options: LineOptions,
): ProducerRecord {
  const at = `line ${lineNumber}`;
  const record = options.ndjson
    ? recordFromJson(line, at, options.as)
    : recordFromText(line, at, options);
  // --header values are text from the command line: stored as their UTF-8 in any format.
  const extra = options.headers.map((h) => ({ name: h.name, value: utf8.encode(h.value) }));
  const headers = [...headerList(record.headers, at), ...extra];
  return {
    ...record,
    ...(headers.length > 0 && { headers }),
    ...(record.partition === undefined &&
      options.partition !== undefined && { partition: options.partition }),
  };
}

function recordFromText(line: string, at: string, options: LineOptions): ProducerRecord {
  const separator = options.keySeparator;
  const split = separator === undefined ? -1 : line.indexOf(separator);
  // A line without the separator has no key, as kcat -K reads it.
  if (separator === undefined || split < 0) return { value: data(line, at, options.as) };
  return {
    key: key(line.slice(0, split), at, options.as),
    value: data(line.slice(split + separator.length), at, options.as),
  };
}

function recordFromJson(line: string, at: string, as: WriteAs): ProducerRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new InputError(`${at} is not JSON; with --ndjson each line is a record object.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InputError(
      `${at} is not a record object: {"key", "value", "headers", "partition", "timestamp"}.`,
    );
  }
  const fields: Record<string, unknown> = { ...parsed };
  for (const name of Object.keys(fields)) {
    if (!recordFields.includes(name)) {
      const meant = closest(name, recordFields);
      const hint = meant === undefined ? '' : ` (did you mean '${meant}'?)`;
      throw new InputError(
        `${at} has an unknown field '${name}'${hint}; a record has ${recordFields.join(', ')}.`,
      );
    }
  }
  if (fields.value === undefined)
    throw new InputError(`${at} has no value (null for a tombstone).`);
  const value = fields.value === null ? null : stored(fields.value, `${at}: value`, as);
  const record: { -readonly [K in keyof ProducerRecord]: ProducerRecord[K] } = { value };
  if (fields.key !== undefined && fields.key !== null) {
    if (typeof fields.key !== 'string')
      throw new InputError(`${at}: key must be a string or null.`);
    record.key = key(fields.key, at, as);
  }
  if (fields.headers !== undefined) {
    record.headers = headerList(fields.headers, at).map((h) => ({
      name: h.name,
      value: h.value === null ? null : stored(h.value, `${at}: header '${h.name}'`, as),
    }));
  }
  if (fields.partition !== undefined) {
    if (typeof fields.partition !== 'number')
      throw new InputError(`${at}: partition must be a number.`);
    record.partition = fields.partition;
  }
  if (fields.timestamp !== undefined) {
    if (typeof fields.timestamp !== 'number') {
      throw new InputError(`${at}: timestamp must be epoch milliseconds.`);
    }
    record.timestamp = fields.timestamp;
  }
  return record;
}

/** A value read from NDJSON: as it is for json, a string for text, bytes for base64. */
function stored(value: unknown, at: string, as: WriteAs): unknown {
  if (as === 'json') return value;
  if (typeof value !== 'string') {
    throw new InputError(`${at} must be a string with --format ${as}.`);
  }
  return as === 'base64' ? bytes(value, at) : value;
}

function data(text: string, at: string, as: WriteAs): unknown {
  if (as === 'text') return text;
  if (as === 'base64') return bytes(text, at);
  try {
    return JSON.parse(text);
  } catch {
    throw new InputError(`${at} is not JSON (--format json); use --format text for plain lines.`);
  }
}

const key = (text: string, at: string, as: WriteAs) =>
  as === 'base64' ? bytes(text, `${at}: key`) : text;

function bytes(text: string, at: string): Uint8Array {
  const compact = text.trim();
  if (!base64Text.test(compact)) throw new InputError(`${at} is not base64.`);
  // A plain Uint8Array, as the SDK documents bytes, rather than a Buffer.
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

function headerList(headers: unknown, at: string): { name: string; value: unknown }[] {
  if (headers === undefined) return [];
  if (Array.isArray(headers)) {
    return headers.map((h: unknown, i) => {
      if (typeof h !== 'object' || h === null || !('name' in h) || typeof h.name !== 'string') {
        throw new InputError(`${at}: headers[${i}] needs a string name.`);
      }
      return { name: h.name, value: 'value' in h ? h.value : null };
    });
  }
  if (typeof headers === 'object' && headers !== null) {
    return Object.entries(headers).map(([name, value]) => ({ name, value }));
  }
  throw new InputError(`${at}: headers must be a list of {"name", "value"} or an object.`);
}

/**
 * Passes input through unchanged, line by line, failing with an InputError that names the
 * first line whose bytes are not UTF-8. Lines are read as text in every format, and decoding
 * would otherwise put U+FFFD where the bytes were: a record stored other than it was given.
 * Bytes go as base64 (`--format base64`).
 */
export function utf8Lines(): Transform {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pending: Buffer = Buffer.alloc(0);
  let lineNumber = 0;
  const check = (line: Buffer): void => {
    lineNumber++;
    try {
      decoder.decode(line);
    } catch {
      throw new InputError(
        `line ${lineNumber} is not UTF-8 text; to produce bytes, give them as base64 with --format base64.`,
      );
    }
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const bytes = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let start = 0;
      try {
        for (let end = bytes.indexOf(0x0a); end >= 0; end = bytes.indexOf(0x0a, start)) {
          check(bytes.subarray(start, end));
          start = end + 1;
        }
      } catch (error: unknown) {
        callback(error as Error);
        return;
      }
      pending = bytes.subarray(start);
      callback(null, bytes.subarray(0, start));
    },
    flush(callback) {
      try {
        if (pending.length > 0) check(pending);
      } catch (error: unknown) {
        callback(error as Error);
        return;
      }
      callback(null, pending);
    },
  });
}
