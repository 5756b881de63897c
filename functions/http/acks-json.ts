import type { RecordAck } from '../core/log/produce.ts';

const prefix = Buffer.from('{"offsets":[', 'latin1');
const partitionName = Buffer.from('{"partition":', 'latin1');
const offsetName = Buffer.from(',"offset":', 'latin1');
const timestampName = Buffer.from(',"timestamp":', 'latin1');
const suffix = Buffer.from(']}', 'latin1');
/** An ack's bytes at most: its three names, braces, comma and three numbers of 16 digits. */
const maxAckBytes = partitionName.length + offsetName.length + timestampName.length + 2 + 3 * 16;
const comma = 0x2c;
const closeBrace = 0x7d;
const zero = 0x30;

/**
 * A produce's answer, `{"offsets":[{"partition","offset","timestamp"}, ...]}`, byte for byte
 * as JSON.stringify writes it, written as UTF-8 bytes straight from the fields it knows.
 * A produce of a thousand records answers a thousand acks: built as a string, they were
 * thousands of small strings to join and then to encode, on every such request.
 */
export function acksJson(offsets: readonly RecordAck[]): Buffer {
  const out = Buffer.allocUnsafe(prefix.length + offsets.length * maxAckBytes + suffix.length);
  out.set(prefix, 0);
  let at = prefix.length;
  for (let i = 0; i < offsets.length; i++) {
    const { partition, offset, timestamp } = offsets[i] as RecordAck;
    // Acks hold integers in [0, 2^53); were one not to, JSON.stringify writes it as it would.
    if (!(isDigits(partition) && isDigits(offset) && isDigits(timestamp))) {
      return Buffer.from(JSON.stringify({ offsets }), 'utf8');
    }
    if (i > 0) out[at++] = comma;
    out.set(partitionName, at);
    at = writeDigits(out, at + partitionName.length, partition);
    out.set(offsetName, at);
    at = writeDigits(out, at + offsetName.length, offset);
    out.set(timestampName, at);
    at = writeDigits(out, at + timestampName.length, timestamp);
    out[at++] = closeBrace;
  }
  out.set(suffix, at);
  return out.subarray(0, at + suffix.length);
}

/** A number JSON.stringify writes as plain decimal digits (-0 as 0), at most 16 of them. */
const isDigits = (n: number) => Number.isSafeInteger(n) && n >= 0;

/**
 * Writes the decimal digits of `n` (a safe non-negative integer) at `at`; returns the index
 * past them. Eight digits at a time in 32-bit integer arithmetic: `Math.floor(n / 1e8)` and
 * the remainder are exact below 2^53, and each part is under 2^31 (n < 2^53 makes the high
 * part under 1e8).
 */
function writeDigits(out: Buffer, at: number, n: number): number {
  if (n < 1e8) return writeInt(out, at, n | 0);
  const high = Math.floor(n / 1e8);
  const end = writeInt(out, at, high | 0);
  return writeInt(out, end, (n - high * 1e8) | 0, 8);
}

/**
 * The digits of `n`, an integer in [0, 1e8), at `at`, zero-padded to `width` when given;
 * returns the index past them.
 */
function writeInt(out: Buffer, at: number, n: number, width?: number): number {
  let digits = 1;
  for (let rest = n; rest >= 10; rest = (rest / 10) | 0) digits++;
  const end = at + (width ?? digits);
  let rest = n;
  for (let k = end - 1; k >= at; k--) {
    const quotient = (rest / 10) | 0;
    out[k] = zero + rest - quotient * 10;
    rest = quotient;
  }
  return end;
}
