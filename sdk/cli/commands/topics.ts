import { type TopicDescription, TributaryError } from '../../src/index.ts';
import { UsageError } from '../args.ts';
import { type Command, outputOption } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';
import { jsonOutput, print, printJson, table } from '../output.ts';

const configOption = {
  config: {
    type: 'string',
    multiple: true,
    value: '<key=value>',
    help: 'a topic config, e.g. retention.ms=86400000; repeat for several',
  },
} as const;

/** `key=value` pairs from repeated `--config` flags. */
function configs(pairs: readonly string[]): Record<string, string> {
  const config: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0)
      throw new UsageError(`--config takes key=value, e.g. retention.ms=86400000; got '${pair}'.`);
    config[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return config;
}

function describeText(topic: TopicDescription): string {
  // A compacted topic also shows how far compaction has cleaned, and the share left dirty.
  const compacted = topic.partitions.some((p) => p.cleanedUpTo !== undefined);
  const partitions = table([
    [
      'PARTITION',
      'LOG START',
      'HIGH WATERMARK',
      'SIZE BYTES',
      ...(compacted ? ['CLEANED UP TO', 'DIRTY RATIO'] : []),
      'LEADER EPOCH',
    ],
    ...topic.partitions.map((p) => [
      String(p.partition),
      String(p.logStartOffset),
      String(p.highWatermark),
      String(p.sizeBytes),
      ...(compacted ? [String(p.cleanedUpTo ?? ''), (p.dirtyRatio ?? 0).toFixed(2)] : []),
      String(p.leaderEpoch),
    ]),
  ]);
  return `Topic: ${topic.name}  id: ${topic.topicId}  partitions: ${topic.partitions.length}\n${partitions}${configText(topic)}`;
}

/** Every config's effective value, one `name=value` a line. */
function configText(topic: TopicDescription): string {
  const config = Object.entries(topic.config)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => `  ${name}=${value}\n`)
    .join('');
  return `Config:\n${config}`;
}

const create: Command = {
  words: ['topics', 'create'],
  args: ['<name>'],
  summary: 'create a topic',
  description:
    'Creates a topic with 1 to 1,000 partitions (default 1) and any topic configs. Fails with TOPIC_ALREADY_EXISTS (exit 1) when the name is taken, unless --if-not-exists.',
  options: {
    partitions: { type: 'string', value: '<n>', help: 'partition count, 1-1000 (default 1)' },
    ...configOption,
    'if-not-exists': { type: 'boolean', help: 'succeed, changing nothing, when the topic exists' },
    ...outputOption,
  },
  examples: [
    'tributary topics create orders --partitions 3',
    'tributary topics create audit --config retention.ms=-1 --config cleanup.policy=compact',
  ],
  async run({ args, flags, client }) {
    const [name = ''] = args;
    const partitions = flags.integer('partitions', 1, 1000);
    const config = configs(flags.strings('config'));
    const json = jsonOutput(flags);
    let topic: TopicDescription;
    try {
      topic = await client().topics.create({
        name,
        ...(partitions !== undefined && { partitions }),
        ...(Object.keys(config).length > 0 && { config }),
      });
    } catch (error: unknown) {
      if (!flags.boolean('if-not-exists') || !TributaryError.is(error, 'TOPIC_ALREADY_EXISTS')) {
        throw error;
      }
      topic = await client().topics.describe(name);
    }
    if (json) await printJson(topic);
    else await print(`Topic ${topic.name} has ${topic.partitions.length} partition(s).\n`);
    return exitCodes.ok;
  },
};

const list: Command = {
  words: ['topics', 'list'],
  args: [],
  summary: 'list topics',
  description:
    'Prints every topic the key may describe, one name per line (--output json: names, ids and partition counts).',
  options: { ...outputOption },
  examples: ['tributary topics list', 'tributary topics list --output json'],
  async run({ flags, client }) {
    const json = jsonOutput(flags);
    const topics = await client().topics.list();
    if (json) await printJson(topics);
    else await print(topics.map((t) => `${t.name}\n`).join(''));
    return exitCodes.ok;
  },
};

const describe: Command = {
  words: ['topics', 'describe'],
  args: ['<name>'],
  summary: "show a topic's partitions and configs",
  description:
    "Prints the topic's id, each partition's log start offset, high watermark, size (bytes of the batches retained) and leader epoch, and every config's effective value. TOPIC_NOT_FOUND exits 3.",
  options: { ...outputOption },
  examples: ['tributary topics describe orders', 'tributary topics describe orders --output json'],
  async run({ args, flags, client }) {
    const json = jsonOutput(flags);
    const topic = await client().topics.describe(args[0] ?? '');
    await (json ? printJson(topic) : print(describeText(topic)));
    return exitCodes.ok;
  },
};

const alter: Command = {
  words: ['topics', 'alter'],
  args: ['<name>'],
  summary: "change a topic's configs or add partitions",
  description:
    'Sets configs (--config), returns configs to their defaults (--delete-config), and raises the partition count to a new total (--partitions, as kafka-topics --alter takes it). Configs change first, all together or not at all. Prints the partition count and every config as it now is.',
  options: {
    ...configOption,
    'delete-config': {
      type: 'string',
      multiple: true,
      value: '<key>',
      help: 'return a config to its default; repeat for several',
    },
    partitions: { type: 'string', value: '<n>', help: 'the new partition count (larger than now)' },
    ...outputOption,
  },
  examples: [
    'tributary topics alter orders --config retention.ms=86400000',
    'tributary topics alter orders --delete-config retention.bytes',
    'tributary topics alter orders --partitions 6',
  ],
  async run({ args, flags, client }) {
    const [name = ''] = args;
    const patch: Record<string, string | null> = configs(flags.strings('config'));
    for (const key of flags.strings('delete-config')) patch[key] = null;
    const partitions = flags.integer('partitions', 1, 1000);
    const json = jsonOutput(flags);
    if (Object.keys(patch).length === 0 && partitions === undefined) {
      throw new UsageError('Nothing to alter: give --config, --delete-config or --partitions.');
    }
    const tributary = client();
    let topic: TopicDescription | undefined;
    if (Object.keys(patch).length > 0) topic = await tributary.topics.alterConfig(name, patch);
    if (partitions !== undefined) topic = await tributary.topics.addPartitions(name, partitions);
    if (!topic) return exitCodes.ok;
    if (json) await printJson(topic);
    else {
      await print(
        `Topic ${topic.name} altered: ${topic.partitions.length} partition(s).\n${configText(topic)}`,
      );
    }
    return exitCodes.ok;
  },
};

const remove: Command = {
  words: ['topics', 'delete'],
  args: ['<name>'],
  summary: 'delete a topic',
  description:
    'Deletes the topic and its records for every reader and writer at once. TOPIC_NOT_FOUND exits 3, unless --if-exists.',
  options: {
    'if-exists': { type: 'boolean', help: 'succeed when there is no such topic' },
  },
  examples: ['tributary topics delete orders'],
  async run({ args, flags, client }) {
    try {
      await client().topics.delete(args[0] ?? '');
    } catch (error: unknown) {
      if (!flags.boolean('if-exists') || !TributaryError.is(error, 'TOPIC_NOT_FOUND')) throw error;
    }
    return exitCodes.ok;
  },
};

export const topicCommands: readonly Command[] = [create, list, describe, alter, remove];
