import {
  type ConsumedRecord,
  type Consumer,
  type OffsetCommit,
  type ReadFrom,
  type TopicDescription,
  type Tributary,
  TributaryError,
} from '../../src/index.ts';
import { type Flags, integerArgument, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { describeError, exitCodes } from '../exit-codes.ts';
import { print, warn } from '../output.ts';
import { partitionsOf } from '../partitions.ts';
import { Progress, showProgress } from '../progress.ts';
import {
  compileTemplate,
  type ReadAs,
  type RecordOutput,
  renderRecords,
} from '../record-output.ts';

/** `earliest`, `latest`, an offset, or `timestamp:<ms>`. */
export function readFrom(text: string): ReadFrom {
  if (text === 'earliest' || text === 'latest') return text;
  if (text.startsWith('timestamp:')) {
    const ms = text.slice('timestamp:'.length);
    return { timestamp: integerArgument(ms, '--from timestamp', 0, Number.MAX_SAFE_INTEGER) };
  }
  if (/^\d+$/.test(text))
    return { offset: integerArgument(text, '--from', 0, Number.MAX_SAFE_INTEGER) };
  throw new UsageError(
    `--from must be earliest, latest, <offset> or timestamp:<ms>; got '${text}'.`,
  );
}

function recordOutput(flags: Flags): RecordOutput {
  const output = flags.oneOf('output', ['value', 'json'], 'value');
  const template = flags.string('format-string');
  const chosen = [flags.has('output'), flags.boolean('value-only'), template !== undefined];
  if (chosen.filter(Boolean).length > 1) {
    throw new UsageError('Choose one of --output, --value-only and --format-string.');
  }
  if (template !== undefined) return { kind: 'template', parts: compileTemplate(template) };
  return { kind: output };
}

/**
 * Prints batches, counting them against `--max-records`. Records are cut synchronously
 * before the write, so concurrent partition readers never print more than the limit.
 */
class Printer {
  readonly #as: ReadAs;
  readonly #output: RecordOutput;
  readonly #progress: Progress;
  #remaining: number;

  constructor(as: ReadAs, output: RecordOutput, progress: Progress, limit: number | undefined) {
    this.#as = as;
    this.#output = output;
    this.#progress = progress;
    this.#remaining = limit ?? Number.POSITIVE_INFINITY;
  }

  get done(): boolean {
    return this.#remaining <= 0;
  }

  /** Prints what the limit allows of `records`; resolves with the records printed. */
  async print<R extends ConsumedRecord<'binary'>>(records: readonly R[]): Promise<readonly R[]> {
    const taken = records.length <= this.#remaining ? records : records.slice(0, this.#remaining);
    this.#remaining -= taken.length;
    if (taken.length === 0) return taken;
    await print(renderRecords(taken, this.#as, this.#output));
    this.#progress.add(taken.length);
    return taken;
  }
}

/** Reads partitions without a group, all at once when following, eight at a time otherwise. */
async function readPartitions(
  tributary: Tributary,
  topic: string,
  partitions: readonly number[],
  from: ReadFrom,
  follow: boolean,
  printer: Printer,
  interrupt: AbortSignal,
): Promise<void> {
  const stop = new AbortController();
  const signal = AbortSignal.any([interrupt, stop.signal]);
  let failure: unknown;
  let next = 0;
  const worker = async () => {
    for (
      let partition = partitions[next++];
      partition !== undefined;
      partition = partitions[next++]
    ) {
      const reader = tributary.reader({ topic, partition, from, format: 'binary', follow, signal });
      for await (const batch of reader) {
        await printer.print(batch.records);
        if (printer.done) {
          stop.abort();
          return;
        }
      }
    }
  };
  const workers = Math.min(partitions.length, follow ? partitions.length : 8);
  await Promise.all(
    Array.from({ length: workers }, () =>
      worker().catch((error: unknown) => {
        // ABORTED is how the others stop once one is done, failed or interrupted.
        if (signal.aborted && TributaryError.is(error, 'ABORTED')) return;
        failure ??= error;
        stop.abort();
      }),
    ),
  );
  if (failure !== undefined) throw failure;
}

/** The next offset after each partition's last record in `records`. */
function offsetsAfter(records: readonly ConsumedRecord<'binary'>[]): OffsetCommit[] {
  const next = new Map<string, OffsetCommit>();
  for (const r of records) {
    next.set(`${r.topic}\u0000${r.partition}`, {
      topic: r.topic,
      partition: r.partition,
      offset: r.offset + 1,
    });
  }
  return [...next.values()];
}

/**
 * Whether the member has printed and committed everything on its partitions: the
 * committed offset (or, before any commit, where the group starts) is at the high
 * watermark. The SDK's consumer never yields an empty poll, so `--exit` asks the group.
 */
async function caughtUp(
  tributary: Tributary,
  consumer: Consumer<'binary'>,
  group: string,
  topic: string,
  reset: 'earliest' | 'latest',
): Promise<boolean> {
  if (consumer.memberId === undefined) return false;
  const owned = consumer.assignment.find((a) => a.topic === topic)?.partitions ?? [];
  if (owned.length === 0) return true;
  const offsets = await tributary.groups.offsets(group);
  let bounds: TopicDescription | undefined;
  for (const partition of owned) {
    const lag = offsets.find((o) => o.topic === topic && o.partition === partition);
    if (lag === undefined) return false;
    let position = lag.committedOffset;
    if (position === null) {
      // Before its first commit a member starts at the end (nothing to wait for) or the start.
      if (reset === 'latest') continue;
      bounds ??= await tributary.topics.describe(topic);
      position = bounds.partitions[partition]?.logStartOffset ?? 0;
    }
    if (position < lag.highWatermark) return false;
  }
  return true;
}

const fenced = ['ILLEGAL_GENERATION', 'PARTITION_NOT_ASSIGNED', 'UNKNOWN_MEMBER_ID'];

/** Consumes as a member of `group`, committing after each printed batch. */
async function consumeInGroup(
  tributary: Tributary,
  topic: string,
  group: string,
  reset: 'earliest' | 'latest',
  exitAtEnd: boolean,
  printer: Printer,
  interrupt: AbortSignal,
): Promise<void> {
  const consumer = tributary.consumer({
    group,
    topics: [topic],
    format: 'binary',
    autoOffsetReset: reset,
    maxWaitMs: exitAtEnd ? 1_000 : 5_000,
    onError: (error) => warn(describeError(error)),
  });
  let finished = false;
  const finish = () => {
    finished = true;
    void consumer.close();
  };
  interrupt.addEventListener('abort', finish, { once: true });
  // Ctrl-C while the topic was being checked: the listener came too late to hear it.
  if (interrupt.aborted) finish();
  const watcher = exitAtEnd ? watchForEnd() : Promise.resolve();
  async function watchForEnd(): Promise<void> {
    while (!finished) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      if (finished) return;
      try {
        if (await caughtUp(tributary, consumer, group, topic, reset)) finish();
      } catch (error: unknown) {
        // The consumer reports the same failure (a missing topic, say) with the right code.
        if (!TributaryError.is(error)) throw error;
      }
    }
  }
  try {
    for await (const batch of finished ? [] : consumer) {
      const printed = await printer.print(batch.records);
      try {
        if (printer.done) await consumer.commit(offsetsAfter(printed));
        else await consumer.commit();
      } catch (error: unknown) {
        // Printed but not committed: the group hands these records out again (at least once).
        if (finished || TributaryError.is(error, 'CLOSED')) break;
        if (!TributaryError.is(error, ...fenced)) throw error;
        warn(`${describeError(error)} — printed records may be printed again.`);
      }
      if (printer.done || finished) break;
    }
  } finally {
    finished = true;
    interrupt.removeEventListener('abort', finish);
    await consumer.close();
    await watcher;
  }
}

export const consume: Command = {
  words: ['consume'],
  args: ['<topic>'],
  summary: 'print records of a topic',
  description: [
    'Prints records of every partition (or one, with --partition), from --from (default earliest), following new records until Ctrl-C (exit 130); with --exit it stops at the end of the log of every partition instead, as the end is when reached.',
    'With --group it consumes as a member of that consumer group: partitions are shared with the other members, it starts where the group committed (--from earliest|latest for partitions without a commit), and it commits after printing each batch, so the next run goes on from there.',
    'By default each record prints as its value on one line: a string as it is, other JSON compact, a tombstone as an empty line. Values are read as --format says (auto: JSON when they parse as JSON, else UTF-8 text; base64 for binary). --output json prints each record as one JSON object {"topic", "partition", "offset", "timestamp", "key", "value", "headers"}; --format-string prints a template, like kcat -C -f: %t topic, %p partition, %o offset, %k key, %v value, %T timestamp, %h headers, %% and \\n \\t escapes.',
    'Partitions are read in parallel: records of one partition print in offset order, partitions interleave. A closed stdout (| head) ends it quietly with exit 0. On a terminal, with stdout redirected, stderr shows the count and rate.',
  ].join('\n\n'),
  options: {
    from: {
      type: 'string',
      value: '<where>',
      help: 'earliest (default), latest, <offset> or timestamp:<ms>; with --group only earliest|latest',
    },
    exit: { type: 'boolean', short: 'e', help: 'stop at the end of the log rather than follow' },
    partition: { type: 'string', short: 'p', value: '<p>', help: 'read only this partition' },
    group: {
      type: 'string',
      value: '<group>',
      help: 'consume as a member of this group, committing',
    },
    'max-records': { type: 'string', value: '<n>', help: 'stop after printing this many records' },
    format: {
      type: 'string',
      value: 'auto|json|text|base64',
      help: 'how keys and values are read (default auto)',
    },
    output: {
      type: 'string',
      value: 'value|json',
      help: 'value: one value per line (default); json: one record object per line',
    },
    'value-only': {
      type: 'boolean',
      help: 'one value per line (the default output, said explicitly)',
    },
    'format-string': {
      type: 'string',
      value: '<template>',
      help: "print each record as a template, e.g. '%k:%v\\n'",
    },
    'no-progress': { type: 'boolean', help: 'no progress line on stderr, even on a terminal' },
  },
  examples: [
    'tributary consume orders --from earliest --exit',
    'tributary consume orders --output json --partition 0 --from 42',
    "tributary consume orders --format-string '%p:%o %k=%v\\n' --from timestamp:1700000000000",
    'tributary consume orders --group reporting --exit',
  ],
  interruptible: true,
  async run({ args, flags, signal, client }) {
    const [topic = ''] = args;
    const group = flags.string('group');
    const partition = flags.integer('partition', 0, 999);
    const from = readFrom(flags.string('from') ?? 'earliest');
    if (group !== undefined && partition !== undefined) {
      throw new UsageError(
        '--partition reads one partition without a group; --group shares them: choose one.',
      );
    }
    if (group !== undefined && from !== 'earliest' && from !== 'latest') {
      throw new UsageError(
        '--group starts where the group committed: --from takes earliest or latest (for partitions without a commit). To move the group, use groups reset-offsets.',
      );
    }
    const as = flags.oneOf('format', ['auto', 'json', 'text', 'base64'], 'auto');
    const output = recordOutput(flags);
    const limit = flags.integer('max-records', 1, Number.MAX_SAFE_INTEGER);
    const exitAtEnd = flags.boolean('exit');
    const progress = new Progress(
      process.stderr,
      'consumed',
      showProgress(process.stderr, process.stdout.isTTY, flags.boolean('no-progress')),
    );
    const printer = new Printer(as, output, progress, limit);
    const tributary = client();
    try {
      const partitions = await partitionsOf(tributary, topic, partition);
      if (group !== undefined) {
        const reset = from === 'latest' ? 'latest' : 'earliest';
        await consumeInGroup(tributary, topic, group, reset, exitAtEnd, printer, signal);
      } else {
        await readPartitions(tributary, topic, partitions, from, !exitAtEnd, printer, signal);
      }
    } finally {
      progress.stop();
    }
    return signal.aborted ? exitCodes.interrupted : exitCodes.ok;
  },
};
