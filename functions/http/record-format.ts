import { TributaryError } from '../core/errors.ts';
import { jsonTextProblem, maxJsonDepth } from './json-text.ts';

/**
 * How record keys, values and header values travel in JSON (the `format` query parameter).
 * This is a contract: extend it, never change it.
 * - json (default): value and header values are any JSON value, stored as compact JSON
 *   text; the key is a string stored as UTF-8 (Kafka's StringSerializer, so keys
 *   partition as a Kafka producer would put them).
 * - text: value, header values and key are strings stored as UTF-8.
 * - base64: value, header values and key are base64 strings of the exact bytes.
 * A JSON null is a null key, value (a tombstone) or header value in every format.
 */
export type RecordFormat = 'json' | 'text' | 'base64';
export const recordFormats: readonly RecordFormat[] = ['json', 'text', 'base64'];

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Where in the request a field is, for error messages ("records[3].value"). */
export type FieldPath = string;

function invalid(path: FieldPath, message: string, index: number): TributaryError {
  return new TributaryError('INVALID_RECORD', `${path}: ${message}`, { index, field: path });
}

export function encodeKey(format: RecordFormat, key: unknown, path: FieldPath, index: number) {
  if (key === null || key === undefined) return null;
  if (typeof key !== 'string') throw invalid(path, 'a key must be a string or null', index);
  return format === 'base64' ? decodeBase64(key, path, index) : utf8.encode(key);
}

/** Value and header values: null stays null, otherwise bytes per the format. */
export function encodeValue(format: RecordFormat, value: unknown, path: FieldPath, index: number) {
  if (value === null) return null;
  if (format === 'json') return utf8.encode(JSON.stringify(value));
  if (typeof value !== 'string') {
    throw invalid(path, `with format=${format} a value must be a string or null`, index);
  }
  return format === 'base64' ? decodeBase64(value, path, index) : utf8.encode(value);
}

/** Base64 with padding, in the standard alphabet, and nothing else: what format=base64 takes. */
export const isBase64 = (text: string) => base64Pattern.test(text);

function decodeBase64(text: string, path: FieldPath, index: number): Uint8Array {
  if (!isBase64(text)) throw invalid(path, 'not valid base64', index);
  return Buffer.from(text, 'base64');
}

/**
 * Where a record is, for answers that mix partitions (a group poll): its error names them.
 * A fetch names its one partition in the request.
 */
export interface RecordPlace {
  readonly topic: string;
  readonly partition: number;
}

/** What stored bytes are, as a refusal names them: a header by its name. */
export type BytesKind = 'key' | 'value' | `header '${string}'`;

export const headerKind = (name: string): BytesKind => `header '${name}'`;

/** Renders stored bytes back into the format; refuses bytes the format cannot carry. */
export function renderBytes(
  format: RecordFormat,
  bytes: Uint8Array | null,
  kind: BytesKind,
  offset: number,
  place?: RecordPlace,
): unknown {
  if (bytes === null) return null;
  if (format === 'base64')
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw notDecodable(format, kind, offset, 'it is not valid UTF-8', place);
  }
  if (format === 'text' || kind === 'key') return text;
  // Stored as text or bytes, a value may nest deeper than rendering it as JSON can take
  // (nesting N deep takes at least 2N characters), or hold a number beyond a double, which
  // JSON.parse reads as Infinity and JSON would show as null: a tombstone, to a reader of a
  // compacted topic. Within 2N characters, such a number has an exponent of 3 digits.
  const mayFail = text.length > 2 * maxJsonDepth || /[eE]\+?\d{3}/.test(text);
  const problem = mayFail ? jsonTextProblem(text, { surrogates: false }) : undefined;
  if (problem) {
    const why =
      problem.kind === 'too-deep'
        ? `it nests deeper than ${maxJsonDepth} levels`
        : 'it holds a number beyond the range of a double';
    throw notDecodable(format, kind, offset, why, place);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw notDecodable(format, kind, offset, 'it is not JSON', place);
  }
}

function notDecodable(
  format: RecordFormat,
  kind: string,
  offset: number,
  why: string,
  place: RecordPlace | undefined,
) {
  const where = place ? ` of ${place.topic}-${place.partition}` : '';
  return new TributaryError(
    'RECORD_NOT_DECODABLE',
    `The ${kind} of the record at offset ${offset}${where} cannot be shown with format=${format}: ${why}. Fetch it with format=base64${format === 'json' ? ' or format=text' : ''}.`,
    { ...(place && { topic: place.topic, partition: place.partition }), offset, format },
  );
}

/** A stored record as the API shows it, in the requested format. */
export function renderRecord(
  format: RecordFormat,
  record: {
    readonly offset: number;
    readonly timestamp: number;
    readonly key: Uint8Array | null;
    readonly value: Uint8Array | null;
    readonly headers: readonly { readonly name: string; readonly value: Uint8Array | null }[];
  },
  place?: RecordPlace,
) {
  return {
    offset: record.offset,
    timestamp: record.timestamp,
    key: renderBytes(format, record.key, 'key', record.offset, place),
    value: renderBytes(format, record.value, 'value', record.offset, place),
    headers: record.headers.map((h) => ({
      name: h.name,
      value: renderBytes(format, h.value, headerKind(h.name), record.offset, place),
    })),
  };
}
