/**
 * Exactly-once consume-transform-produce with the TypeScript SDK: reads orders, writes one
 * "order-amounts" record per order (keyed by customer), and commits the orders it read in
 * the same transaction. Kill it at any moment and start it again: every order is in
 * "order-amounts" exactly once.
 *
 * With the API running (`npm start`) and orders produced (`npx node examples/producer.ts`):
 *
 *   npx node examples/exactly-once.ts
 *
 * TRIBUTARY_URL (default http://127.0.0.1:8080) and TRIBUTARY_API_KEY say where and as whom.
 */

import { Tributary, TributaryError } from '../sdk/src/index.ts';

interface Order {
  readonly order: number;
  readonly amount: number;
}

const tributary = new Tributary({
  url: process.env.TRIBUTARY_URL ?? 'http://127.0.0.1:8080',
  apiKey: process.env.TRIBUTARY_API_KEY,
});
try {
  await tributary.topics.create({ name: 'order-amounts', partitions: 3 });
} catch (error: unknown) {
  if (!TributaryError.is(error, 'TOPIC_ALREADY_EXISTS')) throw error;
}

// One name per worker instance, kept across restarts: as transactionalId it fences the
// predecessor's transactions, as instanceId it takes the predecessor's partitions at once.
const worker = process.env.WORKER ?? 'amounts-1';
const producer = tributary.producer({ transactionalId: worker });
const consumer = tributary.consumer({
  group: 'order-amounts',
  topics: ['orders'],
  instanceId: worker,
  autoOffsetReset: 'earliest',
  // Offsets are committed by the transactions, never on their own.
  autoCommit: false,
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void consumer.close());
}
console.log('copying orders to order-amounts, exactly once');

let copied = 0;
await consumer.run({
  eachBatch: async ({ records }) => {
    const transaction = await producer.transaction();
    await transaction.send({
      topic: 'order-amounts',
      records: records.map((record) => {
        const order = record.value as Order;
        return { key: record.key, value: { order: order.order, amount: order.amount } };
      }),
    });
    await transaction.sendOffsets({ consumer });
    try {
      await transaction.commit();
      copied += records.length;
      console.log(`committed ${records.length} amounts with their offsets (${copied} in all)`);
    } catch (error: unknown) {
      // Refused as a whole (the group rebalanced): nothing was written, and the consumer
      // reads these orders again from the committed offsets, here or on their new owner.
      console.warn('transaction refused:', error instanceof Error ? error.message : error);
    }
  },
});
console.log(`left the group after ${copied} orders`);
