/**
 * Produces orders with the TypeScript SDK: keyed JSON records, batched, idempotent.
 *
 * With the API running (`npm start`), from the repository root:
 *
 *   npx node examples/producer.ts            # 100 orders to the topic "orders"
 *   COUNT=1000 TOPIC=orders-eu npx node examples/producer.ts
 *
 * TRIBUTARY_URL (default http://127.0.0.1:8080) and TRIBUTARY_API_KEY say where and as whom.
 */

import { Tributary, TributaryError } from '../sdk/src/index.ts';

const tributary = new Tributary({
  url: process.env.TRIBUTARY_URL ?? 'http://127.0.0.1:8080',
  apiKey: process.env.TRIBUTARY_API_KEY,
});
const topic = process.env.TOPIC ?? 'orders';
const count = Number(process.env.COUNT ?? 100);

try {
  await tributary.topics.create({ name: topic, partitions: 3 });
  console.log(`created topic ${topic} with 3 partitions`);
} catch (error: unknown) {
  if (!TributaryError.is(error, 'TOPIC_ALREADY_EXISTS')) throw error;
}

// Sends made within 10 ms of each other travel together, up to 100 records per request.
const producer = tributary.producer({ lingerMs: 10, batchSize: 100 });
const sends = Array.from({ length: count }, (_, i) =>
  producer.send({
    topic,
    records: [
      {
        // One customer's orders share a partition, so they stay in order.
        key: `customer-${i % 10}`,
        value: { order: i, amount: Math.round(Math.random() * 10_000) / 100 },
        headers: { source: 'examples/producer.ts' },
      },
    ],
  }),
);
const acks = (await Promise.all(sends)).flat();
await producer.close();

const perPartition = new Map<number, number>();
for (const ack of acks) perPartition.set(ack.partition, (perPartition.get(ack.partition) ?? 0) + 1);
console.log(
  `sent ${acks.length} orders to ${topic}:`,
  [...perPartition]
    .sort(([a], [b]) => a - b)
    .map(([p, n]) => `partition ${p}: ${n}`)
    .join(', '),
);
