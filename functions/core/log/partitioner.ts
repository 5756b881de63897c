/**
 * Kafka's default partitioner for keyed records, bit for bit, so a key lands on the partition
 * a Kafka producer would choose for it.
 *
 * Origin: MurmurHash2 by Austin Appleby (public domain), as ported to Java in Apache Kafka's
 * `org.apache.kafka.common.utils.Utils.murmur2` and applied by
 * `BuiltInPartitioner.partitionForKey` as `toPositive(murmur2(keyBytes)) % numPartitions`.
 * Java's `int` arithmetic wraps at 32 bits; `Math.imul` and `| 0` reproduce it exactly.
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/** Kafka's `Utils.murmur2`: a signed 32-bit hash, exactly the `int` Java returns. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (SEED ^ length) | 0;
  const whole = length - (length % 4);

  for (let i = 0; i < whole; i += 4) {
    // Little-endian 4-byte word. `?? 0` only satisfies noUncheckedIndexedAccess: i + 3 < length.
    let k =
      (data[i] ?? 0) |
      ((data[i + 1] ?? 0) << 8) |
      ((data[i + 2] ?? 0) << 16) |
      ((data[i + 3] ?? 0) << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }

  // The tail: Java's switch falls through from case 3 to case 1.
  const rest = length % 4;
  if (rest === 3) h ^= (data[whole + 2] ?? 0) << 16;
  if (rest >= 2) h ^= (data[whole + 1] ?? 0) << 8;
  if (rest >= 1) {
    h ^= data[whole] ?? 0;
    h = Math.imul(h, M);
  }

  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * Kafka's `Utils.toPositive`: clears the sign bit. Not `Math.abs`, which sends every negative
 * hash elsewhere (toPositive(-1) is 2147483647, not 1).
 */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition Kafka's default partitioner picks for a record with this key. */
export function partitionForKey(keyBytes: Uint8Array, partitions: number): number {
  if (!Number.isSafeInteger(partitions) || partitions < 1) {
    throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  }
  return toPositive(murmur2(keyBytes)) % partitions;
}
