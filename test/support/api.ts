import { expect } from 'vitest';
import { inlineBatchBytes } from '../../functions/core/log/produce.ts';
import type { RunningServer } from './server.ts';
import { call } from './server.ts';

export interface TestRecord {
  key?: string | null;
  value: unknown;
  headers?: { name: string; value: unknown }[];
  partition?: number;
  timestamp?: number;
}

export async function createTopic(
  url: string,
  name: string,
  partitions = 1,
  config: Record<string, string> = {},
): Promise<void> {
  const response = await call(url, 'POST', '/v1/topics', { name, partitions, config });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
}

export async function produce(
  url: string,
  topic: string,
  records: TestRecord[],
  query = '',
): Promise<{ partition: number; offset: number; timestamp: number }[]> {
  const response = await call(url, 'POST', `/v1/topics/${topic}/records${query}`, { records });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.offsets;
}

export interface FetchedRecord {
  offset: number;
  timestamp: number;
  key: unknown;
  value: unknown;
  headers: { name: string; value: unknown }[];
}

/** Every record of a partition from `from` to the high watermark, page by page. */
export async function fetchAll(
  url: string,
  topic: string,
  partition: number,
  from = 0,
  format = 'json',
): Promise<FetchedRecord[]> {
  const records: FetchedRecord[] = [];
  let offset = from;
  for (;;) {
    const response = await call(
      url,
      'GET',
      `/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&maxRecords=10000&maxBytes=4194304&format=${format}`,
    );
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    records.push(...response.body.records);
    if (response.body.nextOffset >= response.body.highWatermark) return records;
    offset = response.body.nextOffset;
  }
}

/**
 * Everything a client or the storage could observe: each topic's description, every
 * segment object, each group with its committed offsets, the ACLs and the API keys. A
 * refused request must leave it identical.
 */
export async function snapshot(
  server: RunningServer,
  headers: Record<string, string> = {},
): Promise<{
  topics: { name: string; topicId: string }[];
  objects: string[];
  groups: { group: string; offsets: unknown }[];
  acls: unknown;
  keys: unknown;
}> {
  const get = async (path: string) =>
    (await call(server.url, 'GET', path, undefined, headers)).body;
  const topics = [];
  for (const topic of (await get('/v1/topics')).topics) {
    topics.push(await get(`/v1/topics/${topic.name}`));
  }
  const groups = [];
  for (const group of (await get('/v1/groups')).groups) {
    groups.push({ ...group, offsets: (await get(`/v1/groups/${group.group}/offsets`)).offsets });
  }
  const objects: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await server.stores.segments.list('', cursor);
    objects.push(...page.objects.map((o) => o.key));
    cursor = page.cursor;
  } while (cursor);
  const { acls } = await get('/v1/admin/acls');
  const { keys } = await get('/v1/admin/keys');
  return { topics, objects, groups, acls, keys };
}

/**
 * `text` made long enough that its batch goes to a segment object in S3 rather than into
 * its index entry (produce's inlineBatchBytes): for tests of what happens to chunks.
 */
export const chunkSized = (text: string): string => text.padEnd(inlineBatchBytes + 64, '.');
