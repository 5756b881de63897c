/**
 * What a request costs on AWS, all in: from the storage calls the bench counts for a few
 * requests made one at a time on the embedded store (the counts are a property of the core,
 * the same on DynamoDB — docs/performance.md), priced at bench/prices.ts with API Gateway,
 * the Lambda invocation and its time, and the request's log lines added.
 *
 * - produce of one 1 KiB record: a batch under 2 KiB is held in its index entry, no S3 PUT;
 * - produce of 100 records of 1 KiB: one S3 PUT;
 * - fetch of those 100 records (one stored batch, `maxRecords` 100);
 * - a consumer group's poll (`maxRecords` 100) and the commit of what it returned (one
 *   partition's offset), by the only member of a group on a topic of 4 partitions.
 *
 * The Lambda duration is assumed, not measured: the bench runs against local engines whose
 * latency says nothing of DynamoDB's and S3's. The table says so beside each figure, and
 * what 10 ms more would cost.
 */

import { defaultApiMemoryMb } from '../infra/api-defaults.ts';
import type { CountedStores } from './backends.ts';
import { perRequest, type StorageCounts, sumCounts } from './counting-stores.ts';
import { memberView, parseAnswer, pollAnswer } from './group-responses.ts';
import type { HttpCall, LoadGenerator } from './load.ts';
import { lambdaDollars, prices } from './prices.ts';
import { createTopic } from './setup-requests.ts';

const valueBytes = 1024;
/** Requests counted per row, after as many warm ones (a writer's first reads its head). */
const samples = 20;
const fetchBatch = 100;
const groupPartitions = 4;
const pollMaxRecords = 100;
/**
 * What one request logs to CloudWatch: the function's own lines (465 B at the default log
 * level: a produce's two metric lines), Lambda's start, end and report lines (about
 * 270 B), the access-log line (about 190 B) and CloudWatch's 26 B for each of those six
 * events — docs/deploy.md, "Per million requests".
 */
const logBytesPerRequest = 1_100;

/**
 * Lambda duration per request on AWS, assumed: a DynamoDB call taken as about 5–10 ms, an
 * S3 PUT of 100 KB about 30 ms, a ranged GET about 15 ms, plus the handler's own time.
 */
const assumedLambdaMs = {
  produce1: 30,
  produce100: 60,
  fetch: 40,
  poll: 50,
  commit: 25,
} as const;

export const awsCostConfig = {
  valueBytes,
  samples,
  fetchBatch,
  groupPartitions,
  pollMaxRecords,
  logBytesPerRequest,
  assumedLambdaMs,
  lambdaMemoryMb: defaultApiMemoryMb,
};

export interface AwsCostBench {
  readonly url: string;
  readonly load: LoadGenerator;
  readonly stores: CountedStores;
  readonly progress: (line: string) => void;
}

/** One row: a unit of work (one request, or a poll and its commit) and what it cost. */
export interface CostRow {
  readonly what: string;
  /** HTTP requests in one unit. */
  readonly requests: number;
  /** Records produced or read by one unit. */
  readonly records: number;
  /** Storage calls of one unit. */
  readonly counts: StorageCounts;
  /** Assumed Lambda ms of one unit (all its requests). */
  readonly lambdaMs: number;
}

/** Dollars per million units, by item. */
export interface CostBreakdown {
  readonly apiGateway: number;
  readonly lambdaRequests: number;
  readonly lambdaDuration: number;
  readonly dynamoDbWrites: number;
  readonly dynamoDbReads: number;
  readonly s3: number;
  readonly logs: number;
  readonly total: number;
}

export async function awsCostCells(bench: AwsCostBench): Promise<CostRow[]> {
  const topic = 'bench-cost';
  await createTopic(bench.url, topic, 2);
  const produce = async (partition: number, batch: number): Promise<StorageCounts> => {
    const job = {
      kind: 'produce',
      url: bench.url,
      topic,
      partitions: [partition],
      batch,
      valueBytes,
      durationMs: 0,
      maxDurationMs: 60_000,
    } as const;
    await bench.load.run({ ...job, minRequests: samples });
    bench.stores.takeCounts();
    const result = await bench.load.run({ ...job, minRequests: samples });
    return perRequest(bench.stores.takeCounts(), result.requests);
  };
  const produce1 = await produce(0, 1);
  const produce100 = await produce(1, fetchBatch);

  // What partition 1 holds, fetched a batch at a time, each batch once: every fetch finds
  // its batch in S3, none in the app's cache. The first half is not counted.
  const fetchRange = async (from: number) =>
    bench.load.run({
      kind: 'fetch',
      url: bench.url,
      topic,
      partitions: [{ partition: 1, from, end: from + samples * fetchBatch }],
      batch: fetchBatch,
      valueBytes,
      maxDurationMs: 60_000,
    });
  await fetchRange(0);
  bench.stores.takeCounts();
  const fetched = await fetchRange(samples * fetchBatch);
  const fetch = perRequest(bench.stores.takeCounts(), fetched.requests);

  const { poll, commit } = await pollAndCommit(bench);
  bench.progress('aws cost: counted produce, fetch, poll and commit');
  return [
    {
      what: 'produce, 1 record of 1 KiB (held inline)',
      requests: 1,
      records: 1,
      counts: produce1,
      lambdaMs: assumedLambdaMs.produce1,
    },
    {
      what: `produce, ${fetchBatch} records of 1 KiB`,
      requests: 1,
      records: fetchBatch,
      counts: produce100,
      lambdaMs: assumedLambdaMs.produce100,
    },
    {
      what: `fetch, ${fetchBatch} records of 1 KiB (one stored batch)`,
      requests: 1,
      records: fetchBatch,
      counts: fetch,
      lambdaMs: assumedLambdaMs.fetch,
    },
    {
      what: `group poll (maxRecords ${pollMaxRecords}) + commit of its offset`,
      requests: 2,
      records: pollMaxRecords,
      counts: sumCounts([poll, commit]),
      lambdaMs: assumedLambdaMs.poll + assumedLambdaMs.commit,
    },
  ];
}

/**
 * The only member of a group on a topic of `groupPartitions` partitions, filled with batches
 * of 100 records: `samples` polls of `pollMaxRecords` and, after each, the commit of the
 * offset it reached on the partition its records came from; a first pair is not counted.
 */
async function pollAndCommit(
  bench: AwsCostBench,
): Promise<{ poll: StorageCounts; commit: StorageCounts }> {
  const topic = 'bench-cost-group';
  const group = 'bench-cost';
  await createTopic(bench.url, topic, groupPartitions);
  const partitions = Array.from({ length: groupPartitions }, (_, p) => p);
  await bench.load.run({
    kind: 'produce',
    url: bench.url,
    topic,
    partitions,
    batch: pollMaxRecords,
    valueBytes,
    durationMs: 0,
    // Every poll returns a whole batch: more records than the polls read, on every partition.
    minRequests: Math.ceil((samples + 1) / groupPartitions + 1) * groupPartitions,
    maxDurationMs: 60_000,
  });
  const call = async (request: HttpCall): Promise<string> => {
    const { responses } = await bench.load.calls({
      kind: 'calls',
      url: bench.url,
      requests: [request],
    });
    const response = responses[0];
    if (response?.status !== 200) {
      throw new Error(`${request.method} ${request.path} answered ${response?.status}`);
    }
    return response.text;
  };
  const groupPath = `/v1/groups/${group}`;
  const joined = parseAnswer(
    memberView,
    await call({
      method: 'POST',
      path: `${groupPath}/members`,
      body: JSON.stringify({ topics: [topic], autoOffsetReset: 'earliest' }),
    }),
    'join',
  );
  const memberPath = `${groupPath}/members/${encodeURIComponent(joined.memberId)}`;
  let cursor = '';
  const polls: StorageCounts[] = [];
  const commits: StorageCounts[] = [];
  for (let i = 0; i <= samples; i++) {
    bench.stores.takeCounts();
    const polled = parseAnswer(
      pollAnswer,
      await call({
        method: 'GET',
        path: `${memberPath}/records?maxRecords=${pollMaxRecords}${cursor && `&cursor=${cursor}`}`,
      }),
      'poll',
    );
    const pollCounts = bench.stores.takeCounts();
    if (polled.records.length !== pollMaxRecords) {
      throw new Error(`a poll returned ${polled.records.length} of ${pollMaxRecords} records`);
    }
    cursor = polled.cursor;
    const reached = new Map<number, number>();
    for (const record of polled.records) reached.set(record.partition, record.offset + 1);
    await call({
      method: 'POST',
      path: `${groupPath}/offsets`,
      body: JSON.stringify({
        memberId: joined.memberId,
        generation: polled.generation,
        offsets: [...reached].map(([partition, offset]) => ({ topic, partition, offset })),
      }),
    });
    const commitCounts = bench.stores.takeCounts();
    if (i === 0) continue;
    polls.push(pollCounts);
    commits.push(commitCounts);
  }
  return {
    poll: perRequest(sumCounts(polls), polls.length),
    commit: perRequest(sumCounts(commits), commits.length),
  };
}

/** Dollars per million units of `row`, by item, at bench/prices.ts. */
export function costPerMillion(row: CostRow, memoryMb = defaultApiMemoryMb): CostBreakdown {
  const c = row.counts;
  const million = 1e6;
  const apiGateway = row.requests * prices.apiGatewayRequest * million;
  const lambdaRequests = row.requests * prices.lambdaRequest * million;
  const lambdaDuration = (lambdaDollars(row.lambdaMs, memoryMb) - prices.lambdaRequest) * million;
  const dynamoDbWrites = c.writeUnits * prices.writeUnit * million;
  const dynamoDbReads = c.readUnits * prices.readUnit * million;
  const s3 =
    (c.segmentPuts * prices.s3Put + c.segmentGets * prices.s3Get + c.segmentLists * prices.s3List) *
    million;
  const logs = ((row.requests * logBytesPerRequest) / 1e9) * prices.logsIngestedGb * million;
  return {
    apiGateway,
    lambdaRequests,
    lambdaDuration,
    dynamoDbWrites,
    dynamoDbReads,
    s3,
    logs,
    total:
      apiGateway + lambdaRequests + lambdaDuration + dynamoDbWrites + dynamoDbReads + s3 + logs,
  };
}

const dollars = (value: number): string =>
  value === 0 ? '$0' : `$${value < 0.1 ? value.toFixed(3) : value.toFixed(2)}`;
const units = (value: number): string =>
  Number.isInteger(value) ? String(value) : value.toFixed(2);

/** The table as Markdown, as docs/deploy.md shows it, with the assumptions under it. */
export function awsCostReport(rows: readonly CostRow[], memoryMb = defaultApiMemoryMb): string {
  const header = [
    'per million',
    'requests',
    'S3 PUT / GET',
    'WRU / RRU',
    'Lambda ms (assumed)',
    'API Gateway',
    'Lambda',
    'DynamoDB',
    'S3',
    'logs',
    'total',
    'per million records',
  ];
  const lines = [
    `| ${header.join(' | ')} |`,
    `| --- | ${header
      .slice(1)
      .map(() => '---:')
      .join(' | ')} |`,
  ];
  for (const row of rows) {
    const cost = costPerMillion(row, memoryMb);
    const c = row.counts;
    lines.push(
      `| ${[
        row.what,
        String(row.requests),
        `${units(c.segmentPuts)} / ${units(c.segmentGets)}`,
        `${units(c.writeUnits)} / ${units(c.readUnits)}`,
        String(row.lambdaMs),
        dollars(cost.apiGateway),
        dollars(cost.lambdaRequests + cost.lambdaDuration),
        dollars(cost.dynamoDbWrites + cost.dynamoDbReads),
        dollars(cost.s3),
        dollars(cost.logs),
        `**${dollars(cost.total)}**`,
        dollars(cost.total / row.records),
      ].join(' | ')} |`,
    );
  }
  const per10Ms = lambdaDollars(10, memoryMb) - prices.lambdaRequest;
  return [
    ...lines,
    '',
    `Storage calls counted (embedded store, ${samples} unloaded requests each, after ${samples} not counted). Lambda at ${memoryMb} MB arm64, its duration assumed, not measured: each 10 ms more adds $${(per10Ms * 1e6).toFixed(3)} per million requests. Logs: ${logBytesPerRequest} B a request at $${prices.logsIngestedGb} per GB. Every request here is under API Gateway's 512 KB metering unit.`,
  ].join('\n');
}
