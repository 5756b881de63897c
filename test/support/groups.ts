import { expect } from 'vitest';
import { call } from './server.ts';

export interface MemberView {
  memberId: string;
  generation: number;
  assignment: { topic: string; partitions: number[]; ownedSince: number[] }[];
  unknownTopics?: string[];
}

export async function join(
  url: string,
  group: string,
  body: {
    topics: string[];
    sessionTimeoutMs?: number;
    instanceId?: string;
    autoOffsetReset?: string;
  },
): Promise<MemberView> {
  const response = await call(url, 'POST', `/v1/groups/${group}/members`, body);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

export const owned = (view: MemberView, topic: string) =>
  view.assignment.find((a) => a.topic === topic)?.partitions ?? [];
