/**
 * A consumer-group worker with the TypeScript SDK: run several, and the topic's partitions
 * are shared among them; stop one (Ctrl-C) and its partitions move to the others.
 *
 * With the API running (`npm start`), from the repository root:
 *
 *   npx node examples/consumer-worker.ts     # group "order-workers" on the topic "orders"
 *   GROUP=audit TOPIC=orders-eu npx node examples/consumer-worker.ts
 *
 * TRIBUTARY_URL (default http://127.0.0.1:8080) and TRIBUTARY_API_KEY say where and as whom.
 */

import { type TopicPartitions, Tributary } from '../sdk/src/index.ts';

interface Order {
  readonly order: number;
  readonly amount: number;
}

const tributary = new Tributary({
  url: process.env.TRIBUTARY_URL ?? 'http://127.0.0.1:8080',
  apiKey: process.env.TRIBUTARY_API_KEY,
});
const show = (partitions: TopicPartitions[]) =>
  partitions.map(({ topic, partitions: p }) => `${topic} [${p.join(', ')}]`).join('; ');

const consumer = tributary.consumer({
  group: process.env.GROUP ?? 'order-workers',
  topics: [process.env.TOPIC ?? 'orders'],
  // A new group starts at the oldest record (the default, like Kafka's, is the newest).
  autoOffsetReset: 'earliest',
  // Commit after each batch is processed, and on close.
  autoCommit: true,
  onAssign: (partitions) => console.log(`assigned ${show(partitions)}`),
  onRevoke: (partitions) => console.log(`revoked ${show(partitions)}`),
  // Recovered by the consumer itself; worth a line in the log.
  onError: (error) => console.warn('consumer:', error instanceof Error ? error.message : error),
});

// Leave the group on Ctrl-C or a stop signal, so the partitions move at once.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void consumer.close());
}

let processed = 0;
let total = 0;
await consumer.run({
  eachBatch: async ({ records }) => {
    for (const record of records) {
      // Delivery is at least once: make the work idempotent, e.g. keyed by topic-partition-offset.
      const order = record.value as Order;
      total += order.amount;
      processed++;
    }
    console.log(`processed ${processed} orders, ${total.toFixed(2)} in total`);
  },
});
console.log(`left the group after ${processed} orders`);
