/**
 * The binary format of a batch: the records one produce request writes to one partition.
 *
 * Batches for several partitions are concatenated into one immutable segment chunk (an S3
 * object); the index remembers each batch's byte range and a fetch reads just that range. So a
 * batch is self-describing (magic, version, its own length) and self-checking (CRC-32C), and
 * it carries no absolute offsets: those are assigned at commit time and live only in the index,
 * so a commit retried with a new base offset never rewrites the bytes.
 *
 * docs/chunk-format.md describes the format for users, with a worked example.
 */

import { crc32c } from './crc32c.ts';

export type TimestampType = 'CreateTime' | 'LogAppendTime';

export interface RecordHeader {
  readonly name: string;
  readonly value: Uint8Array | null;
}

export interface BatchRecord {
  /** Epoch milliseconds; any safe integer, before 1970 included. */
  readonly timestamp: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: readonly RecordHeader[];
}

export interface DecodedRecord extends BatchRecord {
  /** Offset relative to the batch's base offset, which only the index knows. */
  readonly offsetDelta: number;
}

export interface DecodedBatch {
  readonly timestampType: TimestampType;
  /** The smallest record timestamp. */
  readonly baseTimestamp: number;
  /** The largest record timestamp. */
  readonly maxTimestamp: number;
  /** Keys, values and header values are views into the decoded bytes, not copies. */
  readonly records: readonly DecodedRecord[];
}

export type CorruptBatchReason =
  | 'truncated'
  | 'magic'
  | 'version'
  | 'attributes'
  | 'length'
  | 'crc'
  | 'varint'
  | 'record';

/**
 * The bytes are not a batch this reader can trust: wrong magic, a version it does not know,
 * a length or checksum mismatch, or a body that does not follow the grammar. Never retryable:
 * the object is immutable, so reading it again returns the same bytes.
 */
export class CorruptBatchError extends Error {
  override readonly name = 'CorruptBatchError';
  readonly reason: CorruptBatchReason;
  constructor(reason: CorruptBatchReason, message: string) {
    super(`corrupt batch (${reason}): ${message}`);
    this.reason = reason;
  }
}

export const BATCH_MAGIC_0 = 0x54; // 'T'
export const BATCH_MAGIC_1 = 0x42; // 'B'
export const BATCH_VERSION = 1;

/** magic (2) + version (1) + attributes (1) + length (4) + crc (4). */
const HEADER_SIZE = 12;
/** The bytes `length` does not count: magic, version, attributes and length itself. */
const LENGTH_EXCLUDES = 8;
const CRC_AT = 8;
/** recordCount (4) + baseTimestamp (8) + maxTimestamp (8). */
const BODY_HEADER_SIZE = 20;
/** Bytes of a batch besides its records: what a size limit on the batch must add. */
export const BATCH_OVERHEAD_BYTES = HEADER_SIZE + BODY_HEADER_SIZE;

const LOG_APPEND_TIME = 0x01;
const RESERVED_ATTRIBUTES = 0xfe;
const MAX_U32 = 0xffff_ffff;
/** A uvarint of up to 2^53-1 takes at most 8 bytes (8 x 7 = 56 bits). */
const MAX_VARINT_BYTES = 8;
/** Largest |n| whose zigzag encoding (2|n| or 2|n|-1) stays a safe integer. */
const MAX_SVARINT_MAGNITUDE = 2 ** 52 - 1;

/**
 * The latest record timestamp a producer may set (year 144,683): from 0 to this, any two
 * timestamps are less than 2^52 ms apart, so any records of a partition fit one batch,
 * whether a produce request or a merge or compaction brings them together.
 */
export const maxRecordTimestamp = MAX_SVARINT_MAGNITUDE;

const textEncoder = new TextEncoder();
// fatal: invalid UTF-8 is corruption, not U+FFFD. ignoreBOM: keep a leading U+FEFF in a name.
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const NO_HEADERS: readonly RecordHeader[] = Object.freeze([]);

// ---------------------------------------------------------------------------------------------
// Varints. Values reach 2^53-1 (timestamps, deltas), beyond the 32 bits JS bitwise operators
// keep, so groups are split off with % and / on whole numbers. Bitwise operators only ever
// touch single bytes.
// ---------------------------------------------------------------------------------------------

function uvarintSize(value: number): number {
  let size = 1;
  let v = value;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    size++;
  }
  return size;
}

function writeUvarint(out: Uint8Array, at: number, value: number): number {
  let pos = at;
  let v = value;
  while (v >= 0x80) {
    out[pos++] = (v % 0x80) + 0x80;
    v = Math.floor(v / 0x80);
  }
  out[pos++] = v;
  return pos;
}

const zigzag = (n: number): number => (n >= 0 ? n * 2 : -n * 2 - 1);
const unzigzag = (z: number): number => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

const nbytesSize = (bytes: Uint8Array | null): number =>
  bytes === null ? 1 : uvarintSize(bytes.length + 1) + bytes.length;

function writeNbytes(out: Uint8Array, at: number, bytes: Uint8Array | null): number {
  if (bytes === null) {
    out[at] = 0;
    return at + 1;
  }
  const pos = writeUvarint(out, at, bytes.length + 1);
  out.set(bytes, pos);
  return pos + bytes.length;
}

/** UTF-8 length of a header name; refuses lone surrogates, which UTF-8 cannot carry. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) throw loneSurrogate(s);
      n += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) throw loneSurrogate(s);
    else n += 3;
  }
  return n;
}

const loneSurrogate = (name: string) =>
  new RangeError(`header name ${JSON.stringify(name)} is not well-formed UTF-16`);

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/** Bytes of a record after its length prefix. */
function recordBodySize(record: BatchRecord, offsetDelta: number, timestampDelta: number): number {
  let size =
    uvarintSize(offsetDelta) +
    uvarintSize(zigzag(timestampDelta)) +
    nbytesSize(record.key) +
    nbytesSize(record.value) +
    uvarintSize(record.headers.length);
  for (const header of record.headers) {
    const nameLength = utf8Length(header.name);
    size += uvarintSize(nameLength) + nameLength + nbytesSize(header.value);
  }
  return size;
}

/**
 * Encoded size of one record, length prefix included. With the default deltas of 0 it is the
 * record's size on its own, independent of its neighbours in a batch: the figure to check
 * against `max.message.bytes`, so accepting a record never depends on what came with it.
 */
export function recordSize(record: BatchRecord, offsetDelta = 0, timestampDelta = 0): number {
  const body = recordBodySize(record, offsetDelta, timestampDelta);
  return uvarintSize(body) + body;
}

/**
 * ```
 * batch        = magic:"TB" (0x54 0x42) | version:u8 (=1) | attributes:u8 | length:u32be | crc:u32be | body
 *                length = byte length of crc + body
 *                crc = CRC-32C (Castagnoli) of every byte of the batch except the crc field:
 *                      magic | version | attributes | length, then body
 * attributes   = bit 0: timestamp type (0 = CreateTime, 1 = LogAppendTime); bits 1-7: 0
 * body         = recordCount:u32be | baseTimestamp:i64be | maxTimestamp:i64be | record{recordCount}
 *                recordCount >= 1; baseTimestamp = min, maxTimestamp = max of record timestamps
 * record       = length:uvarint (bytes of the rest of this record) | offsetDelta:uvarint
 *                | timestampDelta:svarint (zigzag, relative to baseTimestamp) | key:nbytes | value:nbytes
 *                | headerCount:uvarint | header{headerCount}
 *                offsetDelta strictly increasing within a batch (0..n-1 unless compacted)
 * header       = nameLength:uvarint | name:UTF-8 | value:nbytes
 * nbytes       = n:uvarint; n = 0 means null; otherwise n-1 bytes follow
 * uvarint      = unsigned LEB128 (7 bits per byte, low groups first, high bit = more), values up to
 *                2^53-1, at most 8 bytes, minimal (a multi-byte varint never ends in 0x00)
 * svarint      = zigzag-encoded (n >= 0 ? 2n : -2n-1) then uvarint
 * ```
 *
 * The crc covers the attributes too, so a flipped timestamp-type bit cannot pass as valid;
 * magic, version and length are also checked structurally before the crc.
 *
 * Records get offset deltas 0..n-1. `offsetDeltas` overrides them for a rewritten batch (log
 * compaction keeps each kept record's offset, leaving gaps); they must be strictly increasing.
 *
 * When `timestampType` is LogAppendTime the caller stamps every record with the append time;
 * the attribute tells readers the timestamps are the log's, not the producer's.
 */
export function encodeBatch(
  timestampType: TimestampType,
  records: readonly BatchRecord[],
  offsetDeltas?: readonly number[],
  /** Where the batch is written: a new buffer of that size unless given. */
  allocate: (size: number) => Uint8Array = newBytes,
): Uint8Array {
  const count = records.length;
  if (count === 0) throw new RangeError('a batch holds at least one record');
  if (count > MAX_U32) throw new RangeError(`a batch holds at most ${MAX_U32} records`);
  if (offsetDeltas !== undefined) checkOffsetDeltas(offsetDeltas, count);

  let baseTimestamp = Number.POSITIVE_INFINITY;
  let maxTimestamp = Number.NEGATIVE_INFINITY;
  for (const record of records) {
    const ts = record.timestamp;
    if (!Number.isSafeInteger(ts)) {
      throw new RangeError(`record timestamp must be a safe integer, got ${ts}`);
    }
    if (ts < baseTimestamp) baseTimestamp = ts;
    if (ts > maxTimestamp) maxTimestamp = ts;
  }
  if (maxTimestamp - baseTimestamp > MAX_SVARINT_MAGNITUDE) {
    throw new RangeError('record timestamps in one batch must span less than 2^52 ms');
  }

  // Pass 1: sizes, so the batch is written into one buffer allocated once.
  const sizes = new Float64Array(count);
  let bodySize = BODY_HEADER_SIZE;
  let i = 0;
  for (const record of records) {
    const size = recordBodySize(record, offsetDeltas?.[i] ?? i, record.timestamp - baseTimestamp);
    sizes[i++] = size;
    bodySize += uvarintSize(size) + size;
  }
  const length = 4 + bodySize;
  if (length > MAX_U32) throw new RangeError(`a batch is at most ${MAX_U32} bytes`);

  // Pass 2: write.
  const out = allocate(LENGTH_EXCLUDES + length);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = BATCH_MAGIC_0;
  out[1] = BATCH_MAGIC_1;
  out[2] = BATCH_VERSION;
  out[3] = timestampType === 'LogAppendTime' ? LOG_APPEND_TIME : 0;
  view.setUint32(4, length);
  view.setUint32(HEADER_SIZE, count);
  view.setBigInt64(HEADER_SIZE + 4, BigInt(baseTimestamp));
  view.setBigInt64(HEADER_SIZE + 12, BigInt(maxTimestamp));
  let pos = BATCH_OVERHEAD_BYTES;
  i = 0;
  for (const record of records) {
    pos = writeUvarint(out, pos, sizes[i] ?? 0);
    pos = writeUvarint(out, pos, offsetDeltas?.[i] ?? i);
    i++;
    pos = writeUvarint(out, pos, zigzag(record.timestamp - baseTimestamp));
    pos = writeNbytes(out, pos, record.key);
    pos = writeNbytes(out, pos, record.value);
    pos = writeUvarint(out, pos, record.headers.length);
    for (const header of record.headers) {
      const nameLength = utf8Length(header.name);
      pos = writeUvarint(out, pos, nameLength);
      if (nameLength > 0) {
        textEncoder.encodeInto(header.name, out.subarray(pos, pos + nameLength));
        pos += nameLength;
      }
      pos = writeNbytes(out, pos, header.value);
    }
  }
  // Every byte written: a lent buffer holds whatever its last borrower left.
  if (pos !== out.length) throw new Error(`encoded ${pos} bytes of a ${out.length}-byte batch`);
  view.setUint32(CRC_AT, checksum(out));
  return out;
}

const newBytes = (size: number) => new Uint8Array(size);

function checkOffsetDeltas(offsetDeltas: readonly number[], count: number): void {
  if (offsetDeltas.length !== count) {
    throw new RangeError(`got ${offsetDeltas.length} offset deltas for ${count} records`);
  }
  let previous = -1;
  for (const delta of offsetDeltas) {
    if (!Number.isSafeInteger(delta) || delta <= previous) {
      throw new RangeError('offset deltas must be strictly increasing non-negative integers');
    }
    previous = delta;
  }
}

/** CRC-32C of the batch without its crc field: bytes [0, 8) then [12, end). */
function checksum(batch: Uint8Array): number {
  return crc32c(batch.subarray(HEADER_SIZE), crc32c(batch.subarray(0, CRC_AT)));
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/** A cursor over the batch bytes; `limit` is the end of the record being read. */
class Reader {
  readonly bytes: Uint8Array;
  pos: number;
  limit: number;

  constructor(bytes: Uint8Array, pos: number) {
    this.bytes = bytes;
    this.pos = pos;
    this.limit = bytes.length;
  }

  uvarint(): number {
    const bytes = this.bytes;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.pos >= this.limit)
        throw new CorruptBatchError('truncated', 'varint runs past its record');
      const byte = bytes[this.pos++] ?? 0; // in bounds: pos < limit <= length
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) throw new CorruptBatchError('varint', 'overlong varint');
        if (result > Number.MAX_SAFE_INTEGER) {
          throw new CorruptBatchError('varint', 'varint exceeds 2^53-1');
        }
        return result;
      }
      scale *= 0x80;
    }
    throw new CorruptBatchError('varint', `varint longer than ${MAX_VARINT_BYTES} bytes`);
  }

  svarint(): number {
    return unzigzag(this.uvarint());
  }

  /** A view of `length` bytes, no copy. */
  take(length: number): Uint8Array {
    if (length > this.limit - this.pos) {
      throw new CorruptBatchError('truncated', 'bytes run past their record');
    }
    const view = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }

  nbytes(): Uint8Array | null {
    const n = this.uvarint();
    return n === 0 ? null : this.take(n - 1);
  }
}

/**
 * Decodes and verifies one batch. Throws {@link CorruptBatchError} on bad magic, an unknown
 * version, reserved attribute bits, a length or crc mismatch, truncated, overlong or oversized
 * varints, records that break the grammar, or trailing bytes.
 */
export function decodeBatch(bytes: Uint8Array): DecodedBatch {
  if (bytes.length < HEADER_SIZE) {
    throw new CorruptBatchError(
      'truncated',
      `${bytes.length} bytes is shorter than a batch header`,
    );
  }
  if (bytes[0] !== BATCH_MAGIC_0 || bytes[1] !== BATCH_MAGIC_1) {
    throw new CorruptBatchError('magic', 'does not start with "TB"');
  }
  const version = bytes[2] ?? 0;
  if (version !== BATCH_VERSION) {
    throw new CorruptBatchError('version', `unknown batch version ${version}`);
  }
  const attributes = bytes[3] ?? 0;
  if ((attributes & RESERVED_ATTRIBUTES) !== 0) {
    throw new CorruptBatchError(
      'attributes',
      `reserved attribute bits set: 0x${attributes.toString(16)}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(4);
  if (length !== bytes.length - LENGTH_EXCLUDES) {
    throw new CorruptBatchError(
      'length',
      `header says ${length} bytes follow the length field, ${bytes.length - LENGTH_EXCLUDES} do`,
    );
  }
  const expectedCrc = view.getUint32(CRC_AT);
  const actualCrc = checksum(bytes);
  if (actualCrc !== expectedCrc) {
    throw new CorruptBatchError(
      'crc',
      `crc 0x${hex32(actualCrc)} does not match 0x${hex32(expectedCrc)}`,
    );
  }
  if (bytes.length < BATCH_OVERHEAD_BYTES) {
    throw new CorruptBatchError('truncated', 'body is shorter than its fixed fields');
  }

  const count = view.getUint32(HEADER_SIZE);
  const baseTimestamp = readTimestamp(view, HEADER_SIZE + 4);
  const maxTimestamp = readTimestamp(view, HEADER_SIZE + 12);
  if (count === 0) throw new CorruptBatchError('record', 'a batch holds at least one record');

  const reader = new Reader(bytes, BATCH_OVERHEAD_BYTES);
  const records: DecodedRecord[] = [];
  let previousDelta = -1;
  let minSeen = Number.POSITIVE_INFINITY;
  let maxSeen = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < count; i++) {
    reader.limit = bytes.length;
    const recordLength = reader.uvarint();
    if (recordLength > bytes.length - reader.pos) {
      throw new CorruptBatchError('truncated', `record ${i} runs past the batch`);
    }
    const recordEnd = reader.pos + recordLength;
    reader.limit = recordEnd;

    const offsetDelta = reader.uvarint();
    if (offsetDelta <= previousDelta) {
      throw new CorruptBatchError(
        'record',
        `record ${i} offset delta ${offsetDelta} is not increasing`,
      );
    }
    previousDelta = offsetDelta;
    const timestamp = baseTimestamp + reader.svarint();
    if (!Number.isSafeInteger(timestamp)) {
      throw new CorruptBatchError('record', `record ${i} timestamp is out of range`);
    }
    if (timestamp < minSeen) minSeen = timestamp;
    if (timestamp > maxSeen) maxSeen = timestamp;
    const key = reader.nbytes();
    const value = reader.nbytes();
    const headerCount = reader.uvarint();
    let headers = NO_HEADERS;
    if (headerCount > 0) {
      const list: RecordHeader[] = [];
      for (let h = 0; h < headerCount; h++) {
        const name = decodeName(reader.take(reader.uvarint()));
        list.push({ name, value: reader.nbytes() });
      }
      headers = list;
    }
    if (reader.pos !== recordEnd) {
      throw new CorruptBatchError(
        'record',
        `record ${i} has ${recordEnd - reader.pos} unread bytes`,
      );
    }
    records.push({ offsetDelta, timestamp, key, value, headers });
  }
  if (reader.pos !== bytes.length) {
    throw new CorruptBatchError(
      'record',
      `${bytes.length - reader.pos} trailing bytes after the records`,
    );
  }
  if (minSeen !== baseTimestamp || maxSeen !== maxTimestamp) {
    throw new CorruptBatchError('record', 'base/max timestamps do not match the records');
  }

  return {
    timestampType: (attributes & LOG_APPEND_TIME) !== 0 ? 'LogAppendTime' : 'CreateTime',
    baseTimestamp,
    maxTimestamp,
    records,
  };
}

function readTimestamp(view: DataView, at: number): number {
  const value = view.getBigInt64(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new CorruptBatchError('record', `timestamp ${value} is outside the safe integer range`);
  }
  return Number(value);
}

function decodeName(bytes: Uint8Array): string {
  try {
    return textDecoder.decode(bytes);
  } catch (error: unknown) {
    if (error instanceof TypeError)
      throw new CorruptBatchError('record', 'header name is not UTF-8');
    throw error;
  }
}

const hex32 = (n: number) => n.toString(16).padStart(8, '0');

// ---------------------------------------------------------------------------------------------
// Chunks
// ---------------------------------------------------------------------------------------------

/**
 * Concatenates encoded batches into one segment chunk body, returning where each batch lies
 * so the index can record its byte range. The body of a single batch is that batch, not a copy.
 */
export function concatBatches(
  batches: readonly Uint8Array[],
  /** Where the chunk is written, for more than one batch: a new buffer unless given. */
  allocate: (size: number) => Uint8Array = newBytes,
): {
  body: Uint8Array;
  ranges: { offset: number; length: number }[];
} {
  // One batch is its own chunk: no copy.
  const [only] = batches;
  if (batches.length === 1 && only) {
    return { body: only, ranges: [{ offset: 0, length: only.length }] };
  }
  let total = 0;
  for (const batch of batches) total += batch.length;
  const body = allocate(total);
  const ranges: { offset: number; length: number }[] = [];
  let offset = 0;
  for (const batch of batches) {
    body.set(batch, offset);
    ranges.push({ offset, length: batch.length });
    offset += batch.length;
  }
  return { body, ranges };
}
