import { isUtf8 } from 'node:buffer';
import type { FetchedRecord, FetchResult } from '../core/log/fetch.ts';
import { isCanonicalJson } from './json-bytes.ts';
import { type BytesKind, headerKind, type RecordFormat, renderBytes } from './record-format.ts';

/** A fetch's answer, as bytes, and what it holds. */
export interface RecordsJson {
  readonly body: Buffer;
  /** Records in the answer: those that fit `maxBytes`, at least one. */
  readonly count: number;
  /** Bytes of the records' JSON, one more each for the comma between them. */
  readonly size: number;
}

/**
 * `{"records": [...], "nextOffset", "highWatermark", "logStartOffset"}`, exactly as
 * JSON.stringify would write the records `renderRecord` (record-format.ts) makes, but written as bytes
 * into one buffer: a stored value that is already what JSON.stringify writes (a value
 * produced as JSON is stored so) or text with nothing to escape is copied in as it is, not
 * decoded, parsed and written again. Records stop before their JSON would pass `maxBytes`
 * (always at least one), and `nextOffset` then names the first left out.
 */
export function renderRecordsJson(
  format: RecordFormat,
  result: FetchResult,
  maxBytes: number,
): RecordsJson {
  const out = new ByteWriter(estimate(format, result.records));
  out.ascii('{"records":[');
  let size = 0;
  let count = 0;
  let nextOffset = result.nextOffset;
  for (const record of result.records) {
    const before = out.pos;
    if (count > 0) out.byte(comma);
    const start = out.pos;
    writeRecord(out, format, record);
    size += out.pos - start + 1;
    if (count > 0 && size > maxBytes) {
      size -= out.pos - start + 1;
      out.pos = before;
      nextOffset = record.offset;
      break;
    }
    count++;
  }
  out.ascii(
    `],"nextOffset":${nextOffset},"highWatermark":${result.highWatermark},"logStartOffset":${result.logStartOffset}}`,
  );
  return { body: out.done(), count, size };
}

const comma = 0x2c;
const quote = 0x22;
const backslash = 0x5c;

function writeRecord(out: ByteWriter, format: RecordFormat, record: FetchedRecord): void {
  const { offset } = record;
  out.ascii(`{"offset":${offset},"timestamp":${record.timestamp},"key":`);
  writeBytes(out, format, record.key, 'key', offset);
  out.ascii(',"value":');
  writeBytes(out, format, record.value, 'value', offset);
  out.ascii(',"headers":[');
  for (const [i, header] of record.headers.entries()) {
    out.utf8(`${i > 0 ? ',' : ''}{"name":${JSON.stringify(header.name)},"value":`);
    writeBytes(out, format, header.value, headerKind(header.name), offset);
    out.byte(0x7d);
  }
  out.ascii(']}');
}

/** Stored bytes as JSON.stringify(renderBytes(...)) writes them. */
function writeBytes(
  out: ByteWriter,
  format: RecordFormat,
  bytes: Uint8Array | null,
  kind: BytesKind,
  offset: number,
): void {
  if (bytes === null) {
    out.ascii('null');
  } else if (format === 'base64') {
    out.byte(quote);
    out.ascii(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'));
    out.byte(quote);
  } else if (format === 'text' || kind === 'key' ? isPlainText(bytes) : isPlainJson(bytes)) {
    const asString = format === 'text' || kind === 'key';
    if (asString) out.byte(quote);
    out.bytes(bytes);
    if (asString) out.byte(quote);
  } else {
    // Anything else (and every refusal) as the record formats render it.
    out.utf8(JSON.stringify(renderBytes(format, bytes, kind, offset)));
  }
}

/** UTF-8 that a JSON string holds as it is: no quote, backslash or control character. */
function isPlainText(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i] as number;
    if (c < 0x20 || c === quote || c === backslash) return false;
  }
  return !hasByteOrderMark(bytes) && isUtf8(bytes);
}

/** UTF-8 JSON text that JSON.stringify(JSON.parse(text)) writes back unchanged. */
const isPlainJson = (bytes: Uint8Array) =>
  !hasByteOrderMark(bytes) && isUtf8(bytes) && isCanonicalJson(bytes);

/** UTF-8 decoding drops a leading byte order mark, so text that has one is not its bytes. */
const hasByteOrderMark = (bytes: Uint8Array) =>
  bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;

/** Room for the answer, most often enough: the stored bytes and a little per record. */
function estimate(format: RecordFormat, records: readonly FetchedRecord[]): number {
  let bytes = 256;
  for (const record of records) {
    bytes += 96 + (record.key?.byteLength ?? 0) + (record.value?.byteLength ?? 0);
    for (const header of record.headers) bytes += 32 + (header.value?.byteLength ?? 0);
  }
  return format === 'base64' ? Math.ceil(bytes * 1.4) : bytes;
}

/** Bytes appended to one buffer, which grows when needed. */
class ByteWriter {
  #buffer: Buffer;
  pos = 0;

  constructor(size: number) {
    this.#buffer = Buffer.allocUnsafe(size);
  }

  #room(bytes: number): void {
    if (this.pos + bytes <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.pos + bytes));
    this.#buffer.copy(grown, 0, 0, this.pos);
    this.#buffer = grown;
  }

  byte(value: number): void {
    this.#room(1);
    this.#buffer[this.pos++] = value;
  }

  /** Text of code points below 128 only. */
  ascii(text: string): void {
    this.#room(text.length);
    this.pos += this.#buffer.write(text, this.pos, 'latin1');
  }

  utf8(text: string): void {
    this.#room(Buffer.byteLength(text));
    this.pos += this.#buffer.write(text, this.pos, 'utf8');
  }

  bytes(bytes: Uint8Array): void {
    this.#room(bytes.byteLength);
    this.#buffer.set(bytes, this.pos);
    this.pos += bytes.byteLength;
  }

  done(): Buffer {
    return this.#buffer.subarray(0, this.pos);
  }
}
