import type {
  SubscriptionDescription,
  SubscriptionPatch,
  SubscriptionSettings,
  SubscriptionTarget,
} from '../../src/index.ts';
import { TributaryError } from '../../src/index.ts';
import { type Flags, integerArgument, UsageError } from '../args.ts';
import { type Command, outputOption } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';
import { isoTime, jsonOutput, print, printJson, table } from '../output.ts';

/** Flags that set a subscription's settings, for create and update alike. */
const settingOptions = {
  'batch-size': {
    type: 'string',
    value: '<n>',
    help: 'records per delivery, 1-10000 (default 100)',
  },
  'window-ms': {
    type: 'string',
    value: '<ms>',
    help: 'gather records up to this long before delivering a smaller batch (default 0)',
  },
  'max-retry-attempts': {
    type: 'string',
    value: '<n>',
    help: 'retries after a failure, -1 for no limit (default -1)',
  },
  'max-record-age-ms': {
    type: 'string',
    value: '<ms>',
    help: 'stop retrying failed records older than this, -1 for no limit (default -1)',
  },
  bisect: { type: 'boolean', help: 'split a failing batch in two to isolate a bad record' },
  'on-failure': {
    type: 'string',
    value: '<topic>',
    help: 'where records whose retries ran out go (without it, delivery waits)',
  },
  filter: {
    type: 'string',
    value: '<json>',
    help: `an EventBridge-style pattern on the value, e.g. '{"value":{"type":["order"]}}'`,
  },
} as const;

function settings(flags: Flags): SubscriptionSettings {
  const filter = flags.string('filter');
  let parsed: Record<string, unknown> | undefined;
  if (filter !== undefined) {
    try {
      const value: unknown = JSON.parse(filter);
      if (!value || typeof value !== 'object' || Array.isArray(value))
        throw new Error('not an object');
      parsed = Object.fromEntries(Object.entries(value));
    } catch {
      throw new UsageError(
        `--filter takes a JSON object, e.g. '{"value":{"type":["order"]}}'; got '${filter}'.`,
      );
    }
  }
  const signed = (name: string) => {
    const text = flags.string(name);
    return text === undefined ? undefined : integerArgument(text, `--${name}`, -1, 604_800_000);
  };
  const onFailure = flags.string('on-failure');
  const batchSize = flags.integer('batch-size', 1, 10_000);
  const window = flags.integer('window-ms', 0, 300_000);
  const retries = signed('max-retry-attempts');
  const age = signed('max-record-age-ms');
  return {
    ...(batchSize !== undefined && { batchSize }),
    ...(window !== undefined && { maxBatchingWindowMs: window }),
    ...(retries !== undefined && { maxRetryAttempts: retries }),
    ...(age !== undefined && { maxRecordAgeMs: age }),
    ...(flags.boolean('bisect') && { bisectBatchOnFunctionError: true }),
    ...(onFailure !== undefined && { onFailure: { topic: onFailure } }),
    ...(parsed !== undefined && { filter: parsed }),
  };
}

function describeText(sub: SubscriptionDescription): string {
  const target =
    sub.target.type === 'lambda' ? `lambda ${sub.target.function}` : `http ${sub.target.url}`;
  const partitions = table([
    [
      'PARTITION',
      'POSITION',
      'HIGH WATERMARK',
      'LAG',
      'STATE',
      'DELIVERED',
      'DEAD-LETTERED',
      'LAST ERROR',
    ],
    ...sub.partitions.map((p) => [
      String(p.partition),
      String(p.position),
      String(p.highWatermark),
      String(p.lag),
      p.state === 'retrying' && p.nextAttemptAt !== null
        ? `retrying (attempt ${p.attempts}, next ${isoTime(p.nextAttemptAt)})`
        : p.state,
      String(p.delivered),
      String(p.deadLettered),
      p.lastError ? p.lastError.message : '',
    ]),
  ]);
  return `Subscription: ${sub.topic}/${sub.name}  target: ${target}  state: ${sub.state}  lag: ${sub.lag}
Batch size ${sub.batchSize}, window ${sub.maxBatchingWindowMs} ms, retries ${sub.maxRetryAttempts}, max record age ${sub.maxRecordAgeMs} ms, bisect ${sub.bisectBatchOnFunctionError}, on failure ${sub.onFailure?.topic ?? '(wait)'}
${partitions}`;
}

const create: Command = {
  words: ['subscriptions', 'create'],
  args: ['<topic>', '<name>'],
  summary: 'subscribe a Lambda function or an HTTPS endpoint to a topic',
  description:
    'Delivers the topic’s records in batches, in order per partition, at least once: to a Lambda function (--function, a name or ARN) or as signed POSTs to a webhook (--webhook). For a webhook the signing secret is printed once: keep it. Delivery starts with records produced from now on, unless --starting-position says otherwise.',
  options: {
    function: { type: 'string', value: '<name|arn>', help: 'a Lambda function to invoke' },
    webhook: { type: 'string', value: '<url>', help: 'an HTTPS endpoint to POST batches to' },
    header: {
      type: 'string',
      multiple: true,
      value: '<name=value>',
      help: 'a header every webhook request carries; repeat for several',
    },
    'starting-position': {
      type: 'string',
      value: 'LATEST|TRIM_HORIZON|AT_TIMESTAMP',
      help: 'new records (default), every retained record, or from --starting-timestamp',
    },
    'starting-timestamp': { type: 'string', value: '<ms>', help: 'epoch ms, with AT_TIMESTAMP' },
    ...settingOptions,
    disabled: { type: 'boolean', help: 'create it paused' },
    ...outputOption,
  },
  examples: [
    'tributary subscriptions create orders projector --function order-projector --starting-position TRIM_HORIZON',
    'tributary subscriptions create orders audit --webhook https://hooks.example.com/orders --on-failure orders.dlq --max-retry-attempts 5',
  ],
  async run({ args, flags, client }) {
    const [topic = '', name = ''] = args;
    const fn = flags.string('function');
    const url = flags.string('webhook');
    if ((fn === undefined) === (url === undefined)) {
      throw new UsageError('Give the target: --function <name|arn> or --webhook <url>.');
    }
    const headers: Record<string, string> = {};
    for (const pair of flags.strings('header')) {
      const at = pair.indexOf('=');
      if (at <= 0) throw new UsageError(`--header takes name=value; got '${pair}'.`);
      headers[pair.slice(0, at)] = pair.slice(at + 1);
    }
    const target: SubscriptionTarget =
      fn !== undefined
        ? { type: 'lambda', function: fn }
        : { type: 'http', url: url ?? '', headers };
    const position = flags.oneOf(
      'starting-position',
      ['LATEST', 'TRIM_HORIZON', 'AT_TIMESTAMP'],
      'LATEST',
    );
    const timestamp = flags.integer('starting-timestamp', 0, Number.MAX_SAFE_INTEGER);
    const json = jsonOutput(flags);
    const created = await client().topics.subscriptions.create(topic, {
      name,
      target,
      startingPosition: position,
      ...(timestamp !== undefined && { startingPositionTimestamp: timestamp }),
      ...settings(flags),
      ...(flags.boolean('disabled') && { enabled: false }),
    });
    if (json) await printJson(created);
    else {
      await print(`Subscription ${topic}/${name} created.\n`);
      if (created.secret) {
        await print(`Signing secret (shown once): ${created.secret}\n`);
      }
    }
    return exitCodes.ok;
  },
};

const list: Command = {
  words: ['subscriptions', 'list'],
  args: ['<topic>'],
  summary: "list a topic's subscriptions",
  description: 'Prints each subscription’s name, target and whether it is enabled.',
  options: { ...outputOption },
  examples: ['tributary subscriptions list orders'],
  async run({ args, flags, client }) {
    const subs = await client().topics.subscriptions.list(args[0] ?? '');
    if (jsonOutput(flags)) await printJson(subs);
    else {
      await print(
        subs
          .map((s) => {
            const target = s.target.type === 'lambda' ? s.target.function : s.target.url;
            return `${s.name}\t${s.target.type}\t${target}\t${s.enabled ? 'enabled' : 'disabled'}\n`;
          })
          .join(''),
      );
    }
    return exitCodes.ok;
  },
};

const describe: Command = {
  words: ['subscriptions', 'describe'],
  args: ['<topic>', '<name>'],
  summary: "show a subscription's settings and progress per partition",
  description:
    'Prints the settings and, per partition, the position, lag, state (idle, delivering, retrying, waiting), counts and the last error. SUBSCRIPTION_NOT_FOUND exits 3.',
  options: { ...outputOption },
  examples: ['tributary subscriptions describe orders projector'],
  async run({ args, flags, client }) {
    const sub = await client().topics.subscriptions.describe(args[0] ?? '', args[1] ?? '');
    await (jsonOutput(flags) ? printJson(sub) : print(describeText(sub)));
    return exitCodes.ok;
  },
};

const update: Command = {
  words: ['subscriptions', 'update'],
  args: ['<topic>', '<name>'],
  summary: 'enable, disable or change a subscription',
  description:
    'Changes the settings given and keeps the rest. A partition waiting on a failing record tries it again at once. --rotate-secret replaces a webhook’s signing secret and prints the new one, once.',
  options: {
    ...settingOptions,
    'no-on-failure': { type: 'boolean', help: 'remove the onFailure topic (delivery then waits)' },
    'no-filter': { type: 'boolean', help: 'remove the filter' },
    enable: { type: 'boolean', help: 'resume delivery' },
    disable: { type: 'boolean', help: 'pause delivery (positions are kept)' },
    'rotate-secret': { type: 'boolean', help: 'new webhook signing secret' },
    ...outputOption,
  },
  examples: [
    'tributary subscriptions update orders projector --disable',
    'tributary subscriptions update orders projector --batch-size 500 --window-ms 1000',
  ],
  async run({ args, flags, client }) {
    const [topic = '', name = ''] = args;
    if (flags.boolean('enable') && flags.boolean('disable')) {
      throw new UsageError('Give --enable or --disable, not both.');
    }
    const patch: SubscriptionPatch = {
      ...settings(flags),
      ...(flags.boolean('no-on-failure') && { onFailure: null }),
      ...(flags.boolean('no-filter') && { filter: null }),
      ...(flags.boolean('enable') && { enabled: true }),
      ...(flags.boolean('disable') && { enabled: false }),
      ...(flags.boolean('rotate-secret') && { rotateSecret: true }),
    };
    if (Object.keys(patch).length === 0) {
      throw new UsageError(
        'Nothing to update: give a setting, --enable, --disable or --rotate-secret.',
      );
    }
    const updated = await client().topics.subscriptions.update(topic, name, patch);
    if (jsonOutput(flags)) await printJson(updated);
    else {
      await print(`Subscription ${topic}/${name} updated: ${updated.state}.\n`);
      if (updated.secret) await print(`Signing secret (shown once): ${updated.secret}\n`);
    }
    return exitCodes.ok;
  },
};

const remove: Command = {
  words: ['subscriptions', 'delete'],
  args: ['<topic>', '<name>'],
  summary: 'delete a subscription',
  description:
    'Stops delivery and removes the subscription and its positions. SUBSCRIPTION_NOT_FOUND exits 3, unless --if-exists.',
  options: { 'if-exists': { type: 'boolean', help: 'succeed when there is no such subscription' } },
  examples: ['tributary subscriptions delete orders projector'],
  async run({ args, flags, client }) {
    try {
      await client().topics.subscriptions.delete(args[0] ?? '', args[1] ?? '');
    } catch (error: unknown) {
      if (!flags.boolean('if-exists') || !TributaryError.is(error, 'SUBSCRIPTION_NOT_FOUND')) {
        throw error;
      }
    }
    return exitCodes.ok;
  },
};

export const subscriptionCommands: readonly Command[] = [create, list, describe, update, remove];
