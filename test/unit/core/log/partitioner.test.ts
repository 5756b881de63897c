import { describe, expect, it } from 'vitest';
import {
  murmur2,
  partitionForKey,
  toPositive,
} from '../../../../functions/core/log/partitioner.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('murmur2', () => {
  // apache/kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
  it.each([
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ])('matches Kafka UtilsTest for %j', (input, expected) => {
    expect(murmur2(utf8(input))).toBe(expected);
  });

  // confluentinc/librdkafka, src/rdmurmur2.c, unittest_murmur2: expected values are the
  // Java results written as int32 hex, so `| 0` reads them as Java's signed int. The
  // "PreAmble..." suffixes cover every tail length (0-3 trailing bytes) on longer input.
  it.each([
    ['kafka', 0xd067cf64],
    ['giberish123456789', 0x8f552b0c],
    ['1234', 0x9fc97b14],
    ['234', 0xe7c009ca],
    ['34', 0x873930da],
    ['4', 0x5a4b5ca1],
    ['PreAmbleWillBeRemoved,ThePrePartThatIs', 0x78424f1c],
    ['reAmbleWillBeRemoved,ThePrePartThatIs', 0x4a62b377],
    ['eAmbleWillBeRemoved,ThePrePartThatIs', 0xe0e4e09e],
    ['AmbleWillBeRemoved,ThePrePartThatIs', 0x62b8b43f],
    ['', 0x106e08d9],
  ])('matches librdkafka unittest_murmur2 for %j', (input, expected) => {
    expect(murmur2(utf8(input))).toBe(expected | 0);
  });

  // tulios/kafkajs, src/producer/partitioners/defaultJava/murmur2.spec.js, generated there by
  // running Kafka's Java murmur2 (defaultJava/Test.java). kafkajs' *legacy* partitioner
  // produces different values; these are the Java-compatible ones.
  it.each([
    ['0', 971027396],
    ['1', -1993445489],
    ['128', -326012175],
    ['2187', -1508407203],
    ['16384', -325739742],
    ['78125', -1654490814],
    ['279936', 1462227128],
    ['823543', -2014198330],
    ['2097152', 607668903],
    ['4782969', -1182699775],
    ['10000000', -1830336757],
    ['19487171', -1603849305],
    ['35831808', -857013643],
    ['62748517', -1167431028],
    ['105413504', -381294639],
    ['170859375', -1658323481],
    ['100:48069', 1009543857],
  ])('matches kafkajs Java-compatible vectors for %j', (input, expected) => {
    expect(murmur2(utf8(input))).toBe(expected);
  });

  it('hashes the bytes of a subarray view, not its underlying buffer', () => {
    const padded = utf8('xxfoobarxx').subarray(2, 8);
    expect(murmur2(padded)).toBe(-790332482);
  });

  it('treats every byte as unsigned (bytes >= 0x80 in words and in the tail)', () => {
    const bytes = Uint8Array.from({ length: 7 }, () => 0xff);
    const hash = murmur2(bytes);
    expect(Number.isInteger(hash)).toBe(true);
    expect(hash).toBeGreaterThanOrEqual(-(2 ** 31));
    expect(hash).toBeLessThan(2 ** 31);
  });
});

describe('toPositive', () => {
  it('clears the sign bit like Kafka Utils.toPositive', () => {
    expect(toPositive(0)).toBe(0);
    expect(toPositive(10)).toBe(10);
    expect(toPositive(-1)).toBe(0x7fffffff);
    expect(toPositive(-(2 ** 31))).toBe(0);
    expect(toPositive(2 ** 31 - 1)).toBe(2 ** 31 - 1);
  });
});

describe('partitionForKey', () => {
  // confluentinc/librdkafka, tests/0048-partitioner.c, do_test_partitioners: the "murmur2"
  // partitioner's expected partitions, written there as the positive Java hash (from
  // tests/java/Murmur2Cli) modulo the partition count, which is 17 (7 in quick mode).
  const librdkafka: [string, number][] = [
    ['', 0x106e08d9],
    ['23456', 0x058d780f],
    ['this is another string with more length to it perhaps', 0x4f7703da],
    ['hejsan', 0x5ec19395],
  ];
  for (const partitions of [17, 7]) {
    it.each(librdkafka)(
      `matches librdkafka 0048-partitioner over ${partitions} partitions for %j`,
      (key, positiveHash) => {
        expect(partitionForKey(utf8(key), partitions)).toBe(positiveHash % partitions);
      },
    );
  }

  it('is toPositive(murmur2(key)) % partitions for negative hashes', () => {
    // "foobar" hashes to -790332482 (Kafka UtilsTest); toPositive gives 1357151166.
    expect(toPositive(-790332482)).toBe(1357151166);
    expect(partitionForKey(utf8('foobar'), 50)).toBe(1357151166 % 50);
    expect(partitionForKey(utf8('foobar'), 1)).toBe(0);
  });

  it('refuses a partition count that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => partitionForKey(utf8('k'), bad)).toThrow(RangeError);
    }
  });
});
