/**
 * One worker of the transactional copy test, in a process of its own so the test can kill
 * it: reads the input topic as a member of the group, and for each batch writes the
 * transformed records to the output topic and commits the input offsets in one
 * transaction. Settings come from the environment; it runs until killed.
 */
import { Tributary } from '../../sdk/src/index.ts';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const tributary = new Tributary({
  url: env('COPY_URL'),
  retry: { maxAttempts: 30, initialDelayMs: 50, maxDelayMs: 500 },
});
const output = env('COPY_OUTPUT');
const producer = tributary.producer({ transactionalId: env('COPY_TRANSACTIONAL_ID') });
const consumer = tributary.consumer({
  group: env('COPY_GROUP'),
  topics: [env('COPY_INPUT')],
  autoOffsetReset: 'earliest',
  // A killed worker's partitions move on soon.
  sessionTimeoutMs: 3_000,
  heartbeatIntervalMs: 500,
  maxRecords: Number(process.env.COPY_BATCH ?? 300),
  maxWaitMs: 500,
});

await consumer.run({
  eachBatch: async ({ records }) => {
    const transaction = await producer.transaction();
    await transaction.send({
      topic: output,
      records: records.map((r) => ({
        key: r.key,
        value: { copied: r.value, from: `${r.partition}@${r.offset}` },
      })),
    });
    await transaction.sendOffsets({ consumer });
    try {
      await transaction.commit();
    } catch (error: unknown) {
      // Refused (a rebalance moved the partitions): the consumer went back to its committed
      // offsets; whoever owns them now copies them.
      process.stderr.write(`transaction refused: ${String(error)}\n`);
    }
  },
});
