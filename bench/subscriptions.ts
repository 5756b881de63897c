/**
 * Push subscriptions, measured on the local server as `npm start` runs it (the API and the
 * dispatcher in one process, embedded store), delivering to a Lambda function served by
 * the test's Invoke API server through the real `@aws-sdk/client-lambda`:
 *
 * - latency from the start of a produce request to the handler's call, one record at a
 *   time, against the produce request's own latency (the reference cell);
 * - throughput per partition draining a backlog, at batch sizes 100 and 1,000, and four
 *   partitions at once;
 * - storage calls per delivered batch, priced as DynamoDB and S3 would bill them, and the
 *   AWS cost per million records delivered;
 * - the wake-up choice: what an asynchronous `Invoke` of the dispatcher from every produce
 *   (the alternative to the table's stream) would add to a produce request.
 *
 * Run alone with `npm run bench:subscriptions`; `npm run bench` runs it last.
 */

import { InvokeCommand } from '@aws-sdk/client-lambda';
import { readDispatchConfig } from '../functions/dispatch/config.ts';
import { lambdaClientFor, startDispatchServer } from '../test/support/dispatch.ts';
import { startLambdaServer } from '../test/support/lambda-server.ts';
import { type CountedStores, embeddedBackend } from './backends.ts';
import { prices } from './prices.ts';
import { percentile } from './report.ts';

/** The dispatcher's memory as the construct sets it. */
const dispatcherGb = 0.5;
const latencySamples = 200;
const backlog = 10_000;

export interface SubscriptionFigures {
  readonly produceP50Ms: number;
  readonly produceP99Ms: number;
  readonly deliveryP50Ms: number;
  readonly deliveryP99Ms: number;
  readonly throughput: readonly {
    readonly batchSize: number;
    readonly partitions: number;
    readonly recordsPerSecond: number;
    readonly perPartition: number;
    readonly perBatch: { readUnits: number; writeUnits: number; s3Gets: number; ms: number };
    readonly costPerMillion: number;
  }[];
  readonly notifyP50Ms: number;
  readonly plainP50Ms: number;
}

interface Harness {
  readonly url: string;
  readonly stores: CountedStores;
  readonly received: { offset: number; partition: number; at: number; sentAt: number }[];
  close(): Promise<void>;
}

async function harness(): Promise<Harness> {
  const stores = await embeddedBackend.open();
  const received: Harness['received'] = [];
  const lambda = await startLambdaServer({
    bench: {
      handler: async (raw) => {
        const at = performance.timeOrigin + performance.now();
        const event = raw as {
          records: Record<string, { offset: number; partition: number; value: string }[]>;
        };
        for (const r of Object.values(event.records).flat()) {
          const sentAt = Number(JSON.parse(Buffer.from(r.value, 'base64').toString()).t);
          received.push({ offset: r.offset, partition: r.partition, at, sentAt });
        }
        return null;
      },
    },
    notified: { handler: async () => null },
  });
  // As npm start runs it: the defaults, not the tests' fast retries.
  const server = await startDispatchServer(stores, lambda, { config: readDispatchConfig({}) });
  return {
    url: server.url,
    stores,
    received,
    close: async () => {
      await server.close();
      await lambda.close();
      await stores.close();
    },
  };
}

const post = async (url: string, path: string, body: unknown) => {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status >= 300)
    throw new Error(`${path}: ${response.status} ${await response.text()}`);
};

const now = () => performance.timeOrigin + performance.now();

const until = async (done: () => boolean, timeoutMs = 120_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('the bench timed out waiting for deliveries');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
};

export async function benchSubscriptions(
  progress: (line: string) => void,
): Promise<SubscriptionFigures> {
  const h = await harness();
  try {
    // 1. Latency: one record at a time, produce start → handler call.
    progress('subscriptions: latency');
    await post(h.url, '/v1/topics', { name: 'latency', partitions: 1 });
    await post(h.url, '/v1/topics/latency/subscriptions', {
      name: 'l',
      target: { type: 'lambda', function: 'bench' },
    });
    const produceMs: number[] = [];
    for (let i = 0; i < latencySamples; i++) {
      const t = now();
      await post(h.url, '/v1/topics/latency/records', { records: [{ value: { t } }] });
      produceMs.push(now() - t);
      await until(() => h.received.length > i);
    }
    const deliveryMs = h.received.map((r) => r.at - r.sentAt);

    // 2. Throughput: a backlog drained per partition, at two batch sizes, then four partitions.
    const throughput: SubscriptionFigures['throughput'][number][] = [];
    for (const [batchSize, partitions] of [
      [100, 1],
      [1000, 1],
      [100, 4],
    ] as const) {
      progress(`subscriptions: throughput, batch ${batchSize}, ${partitions} partition(s)`);
      const topic = `drain-${batchSize}-${partitions}`;
      await post(h.url, '/v1/topics', { name: topic, partitions });
      for (let p = 0; p < partitions; p++) {
        for (let i = 0; i < backlog / partitions; i += 500) {
          const records = Array.from({ length: 500 }, () => ({
            value: { t: 0, pad: 'x'.repeat(80) },
            partition: p,
          }));
          await post(h.url, `/v1/topics/${topic}/records`, { records });
        }
      }
      h.received.length = 0;
      h.stores.takeCounts();
      const started = now();
      await post(h.url, `/v1/topics/${topic}/subscriptions`, {
        name: 'd',
        target: { type: 'lambda', function: 'bench' },
        startingPosition: 'TRIM_HORIZON',
        batchSize,
      });
      await until(() => h.received.length >= backlog);
      const seconds = (now() - started) / 1000;
      const counts = h.stores.takeCounts();
      const batches = backlog / batchSize;
      const perBatch = {
        readUnits: counts.readUnits / batches,
        writeUnits: counts.writeUnits / batches,
        s3Gets: counts.segmentGets / batches,
        ms: (seconds * 1000 * partitions) / batches,
      };
      const perMillionBatches = 1e6 / batchSize;
      const costPerMillion =
        perMillionBatches *
        (perBatch.readUnits * prices.readUnit +
          perBatch.writeUnits * prices.writeUnit +
          perBatch.s3Gets * prices.s3Get +
          // The target's invocation, and the dispatcher's time (its invocations are a few
          // per second of traffic: negligible beside one target call per batch).
          prices.lambdaRequest +
          (perBatch.ms / 1000) * dispatcherGb * prices.lambdaGbSecond);
      throughput.push({
        batchSize,
        partitions,
        recordsPerSecond: backlog / seconds,
        perPartition: backlog / seconds / partitions,
        perBatch,
        costPerMillion,
      });
    }

    // 3. The alternative wake-up: an Event invoke of the dispatcher after each produce.
    progress('subscriptions: wake-up by asynchronous invoke');
    await post(h.url, '/v1/topics', { name: 'notify', partitions: 1 });
    const plain: number[] = [];
    const notified: number[] = [];
    const invoker = await startLambdaServer({ dispatcher: { handler: async () => null } });
    const client = lambdaClientFor(invoker);
    for (let i = 0; i < latencySamples; i++) {
      let t = now();
      await post(h.url, '/v1/topics/notify/records', { records: [{ value: { t } }] });
      plain.push(now() - t);
      t = now();
      await post(h.url, '/v1/topics/notify/records', { records: [{ value: { t } }] });
      await client.send(
        new InvokeCommand({
          FunctionName: 'dispatcher',
          InvocationType: 'Event',
          Payload: new TextEncoder().encode('{"topic":"notify","partitions":[0]}'),
        }),
      );
      notified.push(now() - t);
    }
    client.destroy();
    await invoker.close();
    return {
      produceP50Ms: percentile(produceMs, 50),
      produceP99Ms: percentile(produceMs, 99),
      deliveryP50Ms: percentile(deliveryMs, 50),
      deliveryP99Ms: percentile(deliveryMs, 99),
      throughput,
      notifyP50Ms: percentile(notified, 50),
      plainP50Ms: percentile(plain, 50),
    };
  } finally {
    await h.close();
  }
}

/** The figures as the tables `npm run bench` prints. */
export function subscriptionReport(f: SubscriptionFigures): string {
  const ms = (v: number) => v.toFixed(1);
  const rows = f.throughput.map(
    (t) =>
      `| ${t.batchSize} | ${t.partitions} | ${Math.round(t.recordsPerSecond)} | ${Math.round(t.perPartition)} | ${t.perBatch.readUnits.toFixed(1)} | ${t.perBatch.writeUnits.toFixed(1)} | ${t.perBatch.s3Gets.toFixed(2)} | $${t.costPerMillion.toFixed(3)} |`,
  );
  return `Push subscriptions, embedded store, one process (npm start), Lambda target through the real client
Produce → handler call, one record at a time (${latencySamples}): p50 ${ms(f.deliveryP50Ms)} ms, p99 ${ms(f.deliveryP99Ms)} ms; the produce request alone (reference): p50 ${ms(f.produceP50Ms)} ms, p99 ${ms(f.produceP99Ms)} ms; ratio p50 ${(f.deliveryP50Ms / f.produceP50Ms).toFixed(2)}×

Draining a backlog of ${backlog} records (~100 B values); cost per million records delivered in AWS (reads, writes, S3 GETs measured per batch; a target invocation per batch; dispatcher time at ${dispatcherGb} GB)
| batch size | partitions | records/s | per partition | RRU/batch | WRU/batch | S3 GET/batch | AWS $ per 1M records |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

Wake-up alternative, an asynchronous Invoke of the dispatcher from each produce: produce p50 ${ms(f.notifyP50Ms)} ms with it, ${ms(f.plainP50Ms)} ms without (reference): +${ms(f.notifyP50Ms - f.plainP50Ms)} ms (${(f.notifyP50Ms / f.plainP50Ms).toFixed(2)}×) on every produce; the table's stream adds nothing to a produce
`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await benchSubscriptions((line) => process.stderr.write(`${line}\n`));
  process.stdout.write(`\n${subscriptionReport(figures)}`);
}
