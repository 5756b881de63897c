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
 * The algorithm is slicing-by-16, Intel's slicing-by-8 (Kounavis and Berry, "A Systematic
 * Approach to Building High Performance Software-based CRC Generators", 2005) taken to 16
 * bytes a step: sixteen 256-entry tables, where table k gives the CRC contribution of a byte
 * followed by k zero bytes, so each step folds in 16 input bytes with 16 independent lookups
 * instead of a chain of dependent ones. The bytes are read as 32-bit words of a Uint32Array
 * over the 4-byte aligned middle of the input (the bytes before and after it go one at a
 * time), which takes the words little-endian on a little-endian host; on any other the
 * whole input goes a byte at a time. Measured on an unaligned 1 MiB view (Node 24, 2-core
 * AMD EPYC, median of 30 rounds): about 1.6 GiB/s, against 1.0-1.3 GiB/s for slicing-by-8
 * through a DataView.
 */

const POLYNOMIAL = 0x82f63b78;
const SLICES = 16;

/** Table k at [256k, 256k + 256): the CRC of byte b followed by k zero bytes. */
const TABLES = buildTables();

/** Whether a Uint32Array reads 4 bytes as a little-endian number here. */
const littleEndian = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

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
  const length = data.length;
  let crc = ~previous;
  let i = 0;
  // Bytes one at a time up to the first 4-byte boundary, then 16 at a time as words.
  const head = littleEndian ? Math.min(length, (4 - (data.byteOffset & 3)) & 3) : length;
  for (; i < head; i++) crc = (crc >>> 8) ^ (t[(crc ^ (data[i] ?? 0)) & 0xff] ?? 0);
  const blocks = (length - i) >>> 4;
  if (blocks > 0) {
    const words = new Uint32Array(data.buffer, data.byteOffset + i, blocks * 4);
    // Every index is a byte plus a table base, always in bounds: `?? 0` only satisfies the
    // compiler (measured: no cost).
    for (let w = 0; w < words.length; w += 4) {
      const a = crc ^ (words[w] ?? 0);
      const b = words[w + 1] ?? 0;
      const c = words[w + 2] ?? 0;
      const d = words[w + 3] ?? 0;
      crc =
        (t[3840 + (a & 0xff)] ?? 0) ^
        (t[3584 + ((a >>> 8) & 0xff)] ?? 0) ^
        (t[3328 + ((a >>> 16) & 0xff)] ?? 0) ^
        (t[3072 + (a >>> 24)] ?? 0) ^
        (t[2816 + (b & 0xff)] ?? 0) ^
        (t[2560 + ((b >>> 8) & 0xff)] ?? 0) ^
        (t[2304 + ((b >>> 16) & 0xff)] ?? 0) ^
        (t[2048 + (b >>> 24)] ?? 0) ^
        (t[1792 + (c & 0xff)] ?? 0) ^
        (t[1536 + ((c >>> 8) & 0xff)] ?? 0) ^
        (t[1280 + ((c >>> 16) & 0xff)] ?? 0) ^
        (t[1024 + (c >>> 24)] ?? 0) ^
        (t[768 + (d & 0xff)] ?? 0) ^
        (t[512 + ((d >>> 8) & 0xff)] ?? 0) ^
        (t[256 + ((d >>> 16) & 0xff)] ?? 0) ^
        (t[d >>> 24] ?? 0);
    }
    i += blocks * 16;
  }
  for (; i < length; i++) crc = (crc >>> 8) ^ (t[(crc ^ (data[i] ?? 0)) & 0xff] ?? 0);
  return ~crc >>> 0;
}
