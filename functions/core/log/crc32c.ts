/**
 * CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, initial value and final xor
 * 0xFFFFFFFF, so `crc32c("123456789") === 0xE3069283`. It is the checksum every batch carries
 * (docs/chunk-format.md), computed when a batch is encoded and again each time one is read.
 *
 * Hand-written because it is on the hot path of every produce and fetch: `@aws-crypto/crc32c`
 * walks the bytes one at a time through an iterator and took about 40% of the CPU of 1 MB
 * requests. Measured on a 4 MiB buffer (Node 24, a busy 2-core AMD EPYC host): the library
 * 36-52 MiB/s (median of runs), this code 620-990 MiB/s, 15-25 times faster; encoding a
 * 1000 x 1 KiB batch fell from about 28 ms to 2.5 ms and decoding it from 25 ms to 2 ms.
 *
 * The algorithm is Intel's slicing-by-8 (Kounavis and Berry, "A Systematic Approach to Building
 * High Performance Software-based CRC Generators", 2005): eight 256-entry tables, where table k
 * gives the CRC contribution of a byte followed by k zero bytes, so each step folds in 8 input
 * bytes with 8 independent lookups instead of a chain of 8 dependent ones. The input is read as
 * little-endian 32-bit words through a DataView, right for any `byteOffset` and host byte order.
 */

const POLYNOMIAL = 0x82f63b78;
const SLICES = 8;

/** Table k at [256k, 256k + 256): the CRC of byte b followed by k zero bytes. */
const TABLES = buildTables();

function buildTables(): Uint32Array {
  const tables = new Uint32Array(SLICES * 256);
  for (let b = 0; b < 256; b++) {
    let crc = b;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL : crc >>> 1;
    tables[b] = crc;
  }
  for (let i = 256; i < tables.length; i++) {
    const previous = tables[i - 256] ?? 0;
    tables[i] = (previous >>> 8) ^ (tables[previous & 0xff] ?? 0);
  }
  return tables;
}

/**
 * The CRC-32C of `data`, as an unsigned 32-bit integer.
 *
 * `previous` continues a checksum over bytes given in pieces, as zlib's `crc32` does:
 * `crc32c(b, crc32c(a))` is the CRC-32C of `a` followed by `b`. It defaults to 0, the CRC of
 * no bytes.
 */
export function crc32c(data: Uint8Array, previous = 0): number {
  const t = TABLES;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const length = data.length;
  const blocksEnd = length - (length & 7);
  let crc = ~previous;
  let i = 0;
  // Every index is a byte plus a table base, always in bounds: `?? 0` only satisfies the
  // compiler (measured: no cost).
  for (; i < blocksEnd; i += 8) {
    const lo = crc ^ view.getUint32(i, true);
    const hi = view.getUint32(i + 4, true);
    crc =
      (t[1792 + (lo & 0xff)] ?? 0) ^
      (t[1536 + ((lo >>> 8) & 0xff)] ?? 0) ^
      (t[1280 + ((lo >>> 16) & 0xff)] ?? 0) ^
      (t[1024 + (lo >>> 24)] ?? 0) ^
      (t[768 + (hi & 0xff)] ?? 0) ^
      (t[512 + ((hi >>> 8) & 0xff)] ?? 0) ^
      (t[256 + ((hi >>> 16) & 0xff)] ?? 0) ^
      (t[hi >>> 24] ?? 0);
  }
  for (; i < length; i++) crc = (crc >>> 8) ^ (t[(crc ^ (data[i] ?? 0)) & 0xff] ?? 0);
  return ~crc >>> 0;
}
