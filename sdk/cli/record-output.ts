import { type ConsumedRecord, TributaryError } from '../src/index.ts';
import { UsageError } from './args.ts';

/**
 * How `consume` reads stored bytes (it always fetches them exactly, as base64 on the wire):
 * - `auto` (default): UTF-8 text, parsed as JSON when it is JSON;
 * - `json`: JSON, and an error for a value that is not;
 * - `text`: UTF-8 text as stored;
 * - `base64`: base64 of the exact bytes, for anything binary.
 * Keys are text (or base64), never parsed. Bytes that are not UTF-8 are an error outside
 * `base64`, as the API's RECORD_NOT_DECODABLE is.
 */
export type ReadAs = 'auto' | 'json' | 'text' | 'base64';

/**
 * What `consume` prints for each record:
 * - `value`: the value as a line — a string raw, other JSON compact, a tombstone empty;
 * - `json`: the whole record as one JSON object;
 * - a template (`--format-string`), like `kcat -C -f`.
 */
export type RecordOutput =
  | { readonly kind: 'value' }
  | { readonly kind: 'json' }
  | { readonly kind: 'template'; readonly parts: readonly TemplatePart[] };

type Field = 'topic' | 'partition' | 'offset' | 'key' | 'value' | 'timestamp' | 'headers';
export type TemplatePart = { readonly literal: string } | { readonly field: Field };

const fieldLetters: Readonly<Record<string, Field>> = {
  t: 'topic',
  p: 'partition',
  o: 'offset',
  k: 'key',
  v: 'value',
  // kcat's letter for the payload.
  s: 'value',
  T: 'timestamp',
  h: 'headers',
};
const escapes: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '\\': '\\' };

/**
 * Compiles a format string: `%t` topic, `%p` partition, `%o` offset, `%k` key, `%v` (or
 * `%s`) value, `%T` timestamp (epoch ms), `%h` headers (`name=value,…`), `%%` a percent
 * sign; `\n`, `\t`, `\r`, `\\` escapes. Nothing is added: end it with `\n` for lines.
 *
 * @example
 * compileTemplate('%k:%v\\n');
 */
export function compileTemplate(format: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = '';
  for (let i = 0; i < format.length; i++) {
    const char = format[i];
    const next = format[i + 1];
    if (char === '%' || char === '\\') {
      if (next === undefined) {
        throw new UsageError(`--format-string ends with a lone '${char}'.`);
      }
      i++;
      if (char === '\\') {
        const escaped = escapes[next];
        if (escaped === undefined) {
          throw new UsageError(
            `--format-string has an unknown escape '\\${next}' (known: \\n \\t \\r \\\\).`,
          );
        }
        literal += escaped;
        continue;
      }
      if (next === '%') {
        literal += '%';
        continue;
      }
      const field = fieldLetters[next];
      if (field === undefined) {
        throw new UsageError(
          `--format-string has an unknown field '%${next}' (known: %t %p %o %k %v %T %h %%).`,
        );
      }
      if (literal !== '') parts.push({ literal });
      literal = '';
      parts.push({ field });
      continue;
    }
    literal += char;
  }
  if (literal !== '') parts.push({ literal });
  return parts;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function notDecodable(record: ConsumedRecord<'binary'>, what: string, why: string) {
  return new TributaryError({
    code: 'RECORD_NOT_DECODABLE',
    message: `The ${what} of ${record.topic}-${record.partition} at offset ${record.offset} ${why}.`,
  });
}

const base64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/** JSON text starts with one of these (after whitespace); anything else is plain text. */
const jsonStart = /^\s*[[{"\-\d]|^\s*(true|false|null)\s*$/;

/** A key, value or header value as `as` reads it: null, a string, or parsed JSON. */
function decode(
  bytes: Uint8Array | null,
  as: ReadAs,
  record: ConsumedRecord<'binary'>,
  what: string,
  parse: boolean,
): unknown {
  if (bytes === null) return null;
  if (as === 'base64') return base64(bytes);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw notDecodable(record, what, 'is not UTF-8 text; read it with --format base64');
  }
  if (!parse || as === 'text') return text;
  if (as === 'json' || jsonStart.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      if (as === 'json') {
        throw notDecodable(record, what, 'is not JSON; read it with --format auto, text or base64');
      }
    }
  }
  return text;
}

/**
 * A field as a line's text: a string raw, other JSON compact (a stored `null` too), and an
 * absent field — a null key, a tombstone — empty.
 */
function asText(stored: Uint8Array | null, decoded: unknown): string {
  if (stored === null) return '';
  return typeof decoded === 'string' ? decoded : JSON.stringify(decoded);
}

/** A record with every field decoded as `as` says, ready to print. */
export interface DecodedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly key: unknown;
  readonly value: unknown;
  readonly headers: readonly { readonly name: string; readonly value: unknown }[];
}

export function decodeRecord(record: ConsumedRecord<'binary'>, as: ReadAs): DecodedRecord {
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestamp,
    key: decode(record.key, as, record, 'key', false),
    value: decode(record.value, as, record, 'value', true),
    headers: record.headers.map((h) => ({
      name: h.name,
      value: decode(h.value, as, record, `header '${h.name}'`, true),
    })),
  };
}

function fieldText(raw: ConsumedRecord<'binary'>, record: DecodedRecord, field: Field): string {
  switch (field) {
    case 'topic':
      return record.topic;
    case 'partition':
      return String(record.partition);
    case 'offset':
      return String(record.offset);
    case 'timestamp':
      return String(record.timestamp);
    case 'key':
      return asText(raw.key, record.key);
    case 'value':
      return asText(raw.value, record.value);
    case 'headers':
      return record.headers
        .map((h, i) => `${h.name}=${asText(raw.headers[i]?.value ?? null, h.value)}`)
        .join(',');
  }
}

/** The text printed for `records`, one after another. */
export function renderRecords(
  records: readonly ConsumedRecord<'binary'>[],
  as: ReadAs,
  output: RecordOutput,
): string {
  let text = '';
  for (const raw of records) {
    const record = decodeRecord(raw, as);
    if (output.kind === 'value') text += `${asText(raw.value, record.value)}\n`;
    else if (output.kind === 'json') text += `${JSON.stringify(record)}\n`;
    else {
      for (const part of output.parts) {
        text += 'literal' in part ? part.literal : fieldText(raw, record, part.field);
      }
    }
  }
  return text;
}
