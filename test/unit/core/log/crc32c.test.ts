import { crc32c as oracle } from '@aws-crypto/crc32c';
import { describe, expect, it } from 'vitest';
import {
  crc32cImplementation,
  crc32cPortable,
  crc32c as inUse,
} from '../../../../functions/core/log/crc32c.ts';

/** Deterministic bytes (mulberry32), so a failure reproduces. */
function randomBytes(length: number, seed: number): Uint8Array {
  let state = seed >>> 0;
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    bytes[i] = (z ^ (z >>> 14)) & 0xff;
  }
  return bytes;
}

describe('the CRC-32C in use', () => {
  // The package ships a binary for every platform a laptop or CI runs (Linux, macOS and
  // Windows on x64 and arm64): were it not to load, every produce and fetch would checksum
  // at a tenth of the speed, silently.
  it('is the native one', () => {
    expect(crc32cImplementation).toBe('native');
  });
});

describe.each([
  ['in use', inUse],
  ['portable', crc32cPortable],
])('crc32c (%s)', (_which, crc32c) => {
  it('gives the standard check value for "123456789"', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('is 0 for no bytes', () => {
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  // RFC 3720 (iSCSI), appendix B.4: 32-byte messages. 0x8A9136AA has its high bit set, so these
  // also pin the result as unsigned.
  it.each([
    ['zeros', new Uint8Array(32), 0x8a9136aa],
    ['0xFF bytes', new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ['incrementing bytes 0..31', Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    ['decrementing bytes 31..0', Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
  ])('matches RFC 3720 B.4 for 32 %s', (_name, bytes, expected) => {
    expect(crc32c(bytes)).toBe(expected);
  });

  it('agrees with @aws-crypto/crc32c on every length 0..300', () => {
    for (let length = 0; length <= 300; length++) {
      const bytes = randomBytes(length, length);
      expect(crc32c(bytes), `length ${length}`).toBe(oracle(bytes));
    }
  });

  it('reads only its view, at any byteOffset, of a larger buffer', () => {
    const backing = randomBytes(320, 7);
    for (let offset = 1; offset <= 7; offset++) {
      for (let length = 0; length <= 300; length++) {
        const view = backing.subarray(offset, offset + length);
        expect(crc32c(view), `offset ${offset}, length ${length}`).toBe(oracle(view.slice()));
      }
    }
  });

  it('agrees on a large unaligned view', () => {
    const view = randomBytes(65_536 + 13, 42).subarray(5, 65_536 + 10);
    expect(crc32c(view)).toBe(oracle(view.slice()));
  });

  it('continues from a previous value: crc32c(b, crc32c(a)) is the CRC of a then b', () => {
    const bytes = randomBytes(100, 99);
    for (let split = 0; split <= bytes.length; split++) {
      const head = bytes.subarray(0, split);
      const tail = bytes.subarray(split);
      expect(crc32c(tail, crc32c(head)), `split at ${split}`).toBe(oracle(bytes));
    }
  });
});
