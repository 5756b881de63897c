import type { GroupDescription, PartitionLag, ResetTarget } from '../../src/index.ts';
import { integerArgument, UsageError } from '../args.ts';
import { type Command, outputOption } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';
import { isoTime, jsonOutput, print, printJson, table } from '../output.ts';

const orDash = (value: number | null) => (value === null ? '-' : String(value));

function offsetsText(offsets: readonly PartitionLag[]): string {
  return table([
    ['TOPIC', 'PARTITION', 'COMMITTED', 'HIGH WATERMARK', 'LAG'],
    ...offsets.map((o) => [
      o.topic,
      String(o.partition),
      orDash(o.committedOffset),
      String(o.highWatermark),
      orDash(o.lag),
    ]),
  ]);
}

function describeText(group: GroupDescription): string {
  const members =
    group.members.length === 0
      ? 'No live members.\n'
      : table([
          ['MEMBER', 'INSTANCE', 'ASSIGNMENT', 'LAST HEARTBEAT'],
          ...group.members.map((m) => [
            m.memberId,
            m.instanceId ?? '-',
            m.assignment.map((a) => `${a.topic}:${a.partitions.join(',')}`).join(' ') || '-',
            isoTime(m.lastHeartbeat),
          ]),
        ]);
  return `Group: ${group.group}  state: ${group.state}  generation: ${group.generation}\n${members}${offsetsText(group.offsets)}`;
}

/** `earliest`, `latest`, `timestamp:<ms>` or an offset, as the API's reset takes it. */
export function resetTarget(text: string): ResetTarget {
  if (text === 'earliest' || text === 'latest') return text;
  if (text.startsWith('timestamp:')) {
    return {
      timestamp: integerArgument(
        text.slice('timestamp:'.length),
        '--to timestamp',
        0,
        Number.MAX_SAFE_INTEGER,
      ),
    };
  }
  if (/^\d+$/.test(text))
    return { offset: integerArgument(text, '--to', 0, Number.MAX_SAFE_INTEGER) };
  throw new UsageError(
    `--to must be earliest, latest, timestamp:<ms> or an offset; got '${text}'.`,
  );
}

const list: Command = {
  words: ['groups', 'list'],
  args: [],
  summary: 'list consumer groups',
  description:
    'Prints every group the key may describe, one name per line (--output json: state, live members and generation too).',
  options: { ...outputOption },
  examples: ['tributary groups list'],
  async run({ flags, client }) {
    const json = jsonOutput(flags);
    const groups = await client().groups.list();
    if (json) await printJson(groups);
    else await print(groups.map((g) => `${g.group}\n`).join(''));
    return exitCodes.ok;
  },
};

const describe: Command = {
  words: ['groups', 'describe'],
  args: ['<group>'],
  summary: "show a group's members, committed offsets and lag",
  description:
    "Prints the group's state and generation, each live member with its assignment and last heartbeat, and per partition the committed offset, high watermark and lag (- before the group's first commit). GROUP_NOT_FOUND exits 3.",
  options: { ...outputOption },
  examples: ['tributary groups describe reporting'],
  async run({ args, flags, client }) {
    const json = jsonOutput(flags);
    const group = await client().groups.describe(args[0] ?? '');
    await (json ? printJson(group) : print(describeText(group)));
    return exitCodes.ok;
  },
};

const resetOffsets: Command = {
  words: ['groups', 'reset-offsets'],
  args: ['<group>'],
  summary: "move a group's committed offsets on a topic",
  description:
    "Moves the group's committed offset on every partition of --topic, like kafka-consumer-groups --reset-offsets --execute: to the log start, the end, the first record at or after a time, or an offset (clamped into the log). Only while the group has no live members (GROUP_NOT_EMPTY, exit 1).",
  options: {
    topic: { type: 'string', value: '<topic>', help: 'the topic whose offsets move (required)' },
    to: {
      type: 'string',
      value: '<where>',
      help: 'earliest, latest, timestamp:<ms> or an offset (required)',
    },
    ...outputOption,
  },
  examples: [
    'tributary groups reset-offsets reporting --topic clicks --to earliest',
    'tributary groups reset-offsets reporting --topic clicks --to timestamp:1700000000000',
  ],
  async run({ args, flags, client }) {
    const topic = flags.string('topic');
    const to = flags.string('to');
    if (topic === undefined || to === undefined) {
      throw new UsageError('groups reset-offsets needs --topic <topic> and --to <where>.');
    }
    const target = resetTarget(to);
    const json = jsonOutput(flags);
    const offsets = await client().groups.resetOffsets(args[0] ?? '', { topic, to: target });
    await (json ? printJson(offsets) : print(offsetsText(offsets)));
    return exitCodes.ok;
  },
};

const remove: Command = {
  words: ['groups', 'delete'],
  args: ['<group>'],
  summary: 'delete an empty group and its offsets',
  description:
    'Deletes the group and its committed offsets; only while it has no live members (GROUP_NOT_EMPTY, exit 1). GROUP_NOT_FOUND exits 3.',
  options: {},
  examples: ['tributary groups delete reporting'],
  async run({ args, client }) {
    await client().groups.delete(args[0] ?? '');
    return exitCodes.ok;
  },
};

export const groupCommands: readonly Command[] = [list, describe, resetOffsets, remove];
