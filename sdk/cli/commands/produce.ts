import { type FileHandle, open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { TributaryError } from '../../src/index.ts';
import { UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { exitCodes, InputError } from '../exit-codes.ts';
import { partitionsOf } from '../partitions.ts';
import { Progress, showProgress } from '../progress.ts';
import { type LineOptions, recordFromLine, utf8Lines, type WriteAs } from '../record-input.ts';

/** `name=value` pairs from repeated `--header` flags. */
function headers(pairs: readonly string[]): { name: string; value: string }[] {
  return pairs.map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--header takes name=value; got '${pair}'.`);
    return { name: pair.slice(0, at), value: pair.slice(at + 1) };
  });
}

/** A refusal of one record, by the SDK or the server, reported against its input line. */
function onLine(error: unknown, line: number): unknown {
  if (TributaryError.is(error, 'INVALID_ARGUMENT')) {
    // Each line is a send of one record: the SDK's records[0] is the line itself.
    return new InputError(`line ${line}: ${error.message.replace(/^records\[0\]\./, '')}`);
  }
  // The server names a refused record (RECORD_TOO_LARGE, INVALID_RECORD) by its index in
  // the send, always 0 here, where a user of a long input needs the line.
  if (TributaryError.is(error) && typeof error.details.index === 'number') {
    return new TributaryError({
      code: error.code,
      message: `line ${line}: ${error.message}`,
      retryable: error.retryable,
      details: error.details,
      cause: error,
      ...(error.status !== undefined && { status: error.status }),
      ...(error.requestId !== undefined && { requestId: error.requestId }),
    });
  }
  return error;
}

async function inputStream(file: string | undefined): Promise<Readable> {
  if (file === undefined) return process.stdin;
  const refused = (why: string) => new UsageError(`Cannot read --file ${file}: ${why}`);
  let handle: FileHandle;
  try {
    handle = await open(file);
  } catch (error: unknown) {
    throw refused(error instanceof Error ? error.message : String(error));
  }
  // A directory opens, and fails only on the first read, after the topic check.
  if ((await handle.stat()).isDirectory()) {
    await handle.close();
    throw refused('it is a directory.');
  }
  return handle.createReadStream();
}

/**
 * Shorter than the SDK's two minutes (Kafka's default): long enough to ride out a burst of
 * throttling or a cold start, short enough that a command whose server went away mid-input
 * does not look hung.
 */
const defaultDeliveryTimeoutMs = 30_000;

export const produce: Command = {
  words: ['produce'],
  args: ['<topic>'],
  summary: 'produce records from lines of stdin or a file',
  description: [
    'Produces one record per input line; blank lines are skipped. By default the value is the line itself, stored as text (UTF-8). With --key-separator the line is split at the first separator: key before, value after (a line without it has no key), as kcat -P -K does. With --ndjson each line is a record object {"key", "value", "headers", "partition", "timestamp"}, its values read as --format says (json by default).',
    "Records go through the SDK's idempotent producer: keys pick partitions as Kafka's default partitioner does, lines are sent in order in requests of up to --batch-size records, and a retried request never writes twice. Nothing is printed on stdout; on a terminal, stderr shows the count and rate.",
    'A request that fails with a retryable error (throttling, a 5xx, a lost answer, the server gone) is sent again until --delivery-timeout-ms (default 30000) has passed since its lines were read; then it fails with DELIVERY_TIMEOUT. The topic is checked before any line is read, with the usual few retries, so a server that is not running fails the command within seconds.',
    'On Ctrl-C it stops reading, sends what it has read, and exits 130; it waits at most 5 s for that (a request still being retried then is given up), and a second Ctrl-C exits at once. The first failure stops it: exit 1 with the error (exit 3 when the topic does not exist); records read before it may have been written.',
  ].join('\n\n'),
  options: {
    file: { type: 'string', value: '<path>', help: 'read lines from this file instead of stdin' },
    'key-separator': {
      type: 'string',
      short: 'K',
      value: '<sep>',
      help: 'split each line into key and value at the first <sep>',
    },
    ndjson: { type: 'boolean', help: 'each line is a record object (JSON)' },
    format: {
      type: 'string',
      value: 'text|json|base64',
      help: 'how lines (or NDJSON values) are read: text (default for lines), json (default for --ndjson), base64 bytes',
    },
    partition: {
      type: 'string',
      short: 'p',
      value: '<p>',
      help: 'write every record to this partition (else the key decides)',
    },
    header: {
      type: 'string',
      multiple: true,
      value: '<name=value>',
      help: 'a header on every record; repeat for several',
    },
    'batch-size': {
      type: 'string',
      value: '<n>',
      help: 'at most this many records per request (default 500)',
    },
    'linger-ms': {
      type: 'string',
      value: '<ms>',
      help: 'wait up to this long for more lines before sending (default 10)',
    },
    'delivery-timeout-ms': {
      type: 'string',
      value: '<ms>',
      help: 'retry a failing request until this long after its lines were read (default 30000)',
    },
    'transactional-id': {
      type: 'string',
      value: '<id>',
      help: 'a stable producer id: starting with it fences older producers using it',
    },
    'no-idempotence': { type: 'boolean', help: 'plain produce requests, without a producer id' },
    'no-progress': { type: 'boolean', help: 'no progress line on stderr, even on a terminal' },
  },
  examples: [
    "printf 'one\\ntwo\\n' | tributary produce orders",
    "printf 'alice:buy\\nbob:view\\n' | tributary produce orders --key-separator :",
    'tributary produce orders --ndjson --file events.ndjson',
    'echo \'{"amount": 42}\' | tributary produce payments --format json -p 0',
  ],
  interruptible: true,
  async run({ args, flags, signal, client }) {
    const [topic = ''] = args;
    const ndjson = flags.boolean('ndjson');
    const as: WriteAs = flags.oneOf('format', ['text', 'json', 'base64'], ndjson ? 'json' : 'text');
    const keySeparator = flags.string('key-separator');
    if (ndjson && keySeparator !== undefined) {
      throw new UsageError(
        '--key-separator splits plain lines; with --ndjson give "key" in each record.',
      );
    }
    if (keySeparator === '') throw new UsageError('--key-separator must not be empty.');
    const options: LineOptions = {
      as,
      ndjson,
      keySeparator,
      partition: flags.integer('partition', 0, 999),
      headers: headers(flags.strings('header')),
    };
    const batchSize = flags.integer('batch-size', 1, 10_000) ?? 500;
    const linger = flags.integer('linger-ms', 0, 60_000) ?? 10;
    const deliveryTimeoutMs =
      flags.integer('delivery-timeout-ms', 0, 86_400_000) ?? defaultDeliveryTimeoutMs;
    const idempotent = !flags.boolean('no-idempotence');
    const transactionalId = flags.string('transactional-id');
    if (!idempotent && transactionalId !== undefined) {
      throw new UsageError('--transactional-id needs idempotence; drop --no-idempotence.');
    }
    const file = flags.string('file');
    const input = await inputStream(file);
    // Fail before reading a line when the topic or partition does not exist, rather than
    // after someone has typed or piped in records, or not at all for an empty input.
    const tributary = client();
    await partitionsOf(tributary, topic, options.partition);
    const producer = tributary.producer({
      format: as === 'text' ? 'text' : 'json',
      batchSize,
      lingerMs: linger,
      deliveryTimeoutMs,
      idempotent,
      ...(transactionalId !== undefined && { transactionalId }),
    });
    const progress = new Progress(
      process.stderr,
      'produced',
      showProgress(
        process.stderr,
        file === undefined && process.stdin.isTTY,
        flags.boolean('no-progress'),
      ),
    );
    const text = input.pipe(utf8Lines());
    input.once('error', (error) => text.destroy(error));
    const lines = createInterface({ input: text, crlfDelay: Number.POSITIVE_INFINITY });
    const stopReading = () => lines.close();
    signal.addEventListener('abort', stopReading, { once: true });

    // Sends are one line each: the producer merges them into requests of up to batchSize,
    // split where a request would touch too many partitions or bytes. A window of sends in
    // flight keeps memory bounded when the input is faster than the API.
    const window = batchSize * 4;
    const inFlight: Promise<void>[] = [];
    let failure: unknown;
    let lineNumber = 0;
    try {
      // Not after a Ctrl-C during the topic check, which the listener came too late to hear
      // (and a closed interface's loop would wait for ever).
      for await (const line of signal.aborted ? [] : lines) {
        lineNumber++;
        if (failure !== undefined || signal.aborted) break;
        if (ndjson ? line.trim() === '' : line === '') continue;
        const record = recordFromLine(line, lineNumber, options);
        const at = lineNumber;
        inFlight.push(
          producer.send({ topic, records: [record] }).then(
            (acks) => progress.add(acks.length),
            (error: unknown) => {
              failure ??= onLine(error, at);
            },
          ),
        );
        if (inFlight.length >= window) await inFlight.shift();
      }
    } catch (error: unknown) {
      failure ??= error;
    } finally {
      signal.removeEventListener('abort', stopReading);
      lines.close();
    }
    if (failure === undefined) {
      // Sends what was read, even after Ctrl-C: every line read is written or reported.
      await producer.close();
      await Promise.all(inFlight);
    }
    progress.stop();
    if (failure !== undefined) throw failure;
    return signal.aborted ? exitCodes.interrupted : exitCodes.ok;
  },
};
