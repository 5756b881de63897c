import type { DynamoDBStreamEvent } from 'aws-lambda';
import type { PassScope } from './dispatcher.ts';

const headPk = /^log#([^#]+)#(\d+)$/;

/**
 * The partitions whose heads a DynamoDB Stream batch says advanced: its records' keys,
 * `log#<topicId>#<partition>` / `head` (the event source mapping's filter lets only head
 * changes through). A pass over just these is what a produce wakes.
 */
export function streamScope(event: DynamoDBStreamEvent): PassScope {
  const partitions = new Map<string, Set<number>>();
  for (const record of event.Records) {
    const keys = record.dynamodb?.Keys;
    if (keys?.sk?.S !== 'head') continue;
    const match = headPk.exec(keys.pk?.S ?? '');
    if (!match?.[1] || match[2] === undefined) continue;
    const set = partitions.get(match[1]) ?? new Set<number>();
    set.add(Number(match[2]));
    partitions.set(match[1], set);
  }
  return { kind: 'partitions', partitions };
}
