import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey, toPositive } from '../../sdk/src/partitioner.ts';
import { librdkafkaPartitionerVectors, murmur2Vectors } from './partitioner-vectors.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('murmur2', () => {
  it.each(murmur2Vectors)('matches %s for %j', (_source, input, expected) => {
    expect(murmur2(utf8(input))).toBe(expected);
  });

  it('hashes the bytes of a subarray view, not its underlying buffer', () => {
    expect(murmur2(utf8('xxfoobarxx').subarray(2, 8))).toBe(-790332482);
  });

  it('treats every byte as unsigned, in whole words and in the tail', () => {
    for (let length = 4; length <= 7; length++) {
      const hash = murmur2(Uint8Array.from({ length }, () => 0xff));
      expect(Number.isInteger(hash)).toBe(true);
      expect(hash).toBeGreaterThanOrEqual(-(2 ** 31));
      expect(hash).toBeLessThan(2 ** 31);
    }
  });
});

describe('toPositive', () => {
  it("clears the sign bit like Kafka's Utils.toPositive (not Math.abs)", () => {
    expect(toPositive(0)).toBe(0);
    expect(toPositive(-1)).toBe(0x7fffffff);
    expect(toPositive(-(2 ** 31))).toBe(0);
    expect(toPositive(2 ** 31 - 1)).toBe(2 ** 31 - 1);
  });
});

describe('partitionForKey', () => {
  for (const partitions of [17, 7]) {
    it.each(librdkafkaPartitionerVectors)(
      `matches librdkafka 0048-partitioner over ${partitions} partitions for %j`,
      (key, positiveHash) => {
        expect(partitionForKey(utf8(key), partitions)).toBe(positiveHash % partitions);
      },
    );
  }

  it('is toPositive(murmur2(key)) % partitions for a negative hash', () => {
    expect(partitionForKey(utf8('foobar'), 50)).toBe(1357151166 % 50);
    expect(partitionForKey(utf8('foobar'), 1)).toBe(0);
  });

  it('refuses a partition count that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => partitionForKey(utf8('k'), bad)).toThrow(RangeError);
    }
  });
});
