/**
 * Kafka's default partitioner for keyed records, bit for bit, so a key lands on the partition
 * a Kafka producer would choose for it. This file is the one copy: the SDK's producer must
 * know each record's partition before it sends (its sequences are per partition), and the
 * server must agree with it, so both use this.
 *
 * Origin: MurmurHash2 by Austin Appleby (public domain), as ported to Java in Apache Kafka's
 * `org.apache.kafka.common.utils.Utils.murmur2` and applied by
 * `BuiltInPartitioner.partitionForKey` as `toPositive(murmur2(keyBytes)) % numPartitions`.
 * Java's `int` arithmetic wraps at 32 bits; `Math.imul` and `| 0` reproduce it exactly.
 */

const seed = 0x9747b28c;
const m = 0x5bd1e995;
const r = 24;

/**
 * Kafka's `Utils.murmur2`: a signed 32-bit hash, exactly the `int` Java returns.
 *
 * @example
 * murmur2(new TextEncoder().encode('foobar')); // -790332482, as in Kafka's UtilsTest
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (seed ^ length) | 0;
  const whole = length - (length % 4);

  for (let i = 0; i < whole; i += 4) {
    // A little-endian 4-byte word; `?? 0` is for noUncheckedIndexedAccess (i + 3 < length).
    let k =
      (data[i] ?? 0) |
      ((data[i + 1] ?? 0) << 8) |
      ((data[i + 2] ?? 0) << 16) |
      ((data[i + 3] ?? 0) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }

  // The last 0-3 bytes, as Java's switch falling through from case 3 to case 1.
  const tail = length - whole;
  if (tail > 0) {
    if (tail === 3) h ^= (data[whole + 2] ?? 0) << 16;
    if (tail >= 2) h ^= (data[whole + 1] ?? 0) << 8;
    h ^= data[whole] ?? 0;
    h = Math.imul(h, m);
  }

  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * Kafka's `Utils.toPositive`: clears the sign bit. Not `Math.abs`, which sends every negative
 * hash elsewhere (toPositive(-1) is 2147483647, not 1).
 *
 * @example
 * toPositive(-1); // 2147483647
 */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/**
 * The partition Kafka's default partitioner picks for a record with this key (its bytes:
 * for a string key, its UTF-8 encoding, as Kafka's StringSerializer makes it).
 *
 * @example
 * partitionForKey(new TextEncoder().encode('alice'), 3); // where a Kafka producer puts 'alice'
 */
export function partitionForKey(keyBytes: Uint8Array, partitions: number): number {
  if (!Number.isSafeInteger(partitions) || partitions < 1) {
    throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  }
  return toPositive(murmur2(keyBytes)) % partitions;
}
