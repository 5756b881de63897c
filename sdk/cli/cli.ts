import { Tributary } from '../src/index.ts';
import { parseFlags, splitCommand, UsageError, wantsHelp } from './args.ts';
import type { Command, Context } from './command.ts';
import { aclCommands, keyCommands } from './commands/access.ts';
import { consume } from './commands/consume.ts';
import { dev } from './commands/dev.ts';
import { groupCommands } from './commands/groups.ts';
import { maintenanceCommands } from './commands/maintenance.ts';
import { produce } from './commands/produce.ts';
import { subscriptionCommands } from './commands/subscriptions.ts';
import { topicCommands } from './commands/topics.ts';
import { resolveConnection } from './connection.ts';
import { describeError, type ExitCode, exitCodeFor, exitCodes } from './exit-codes.ts';
import { commandHelp, globalHelp, groupHelp } from './help.ts';

/** Every command, in the order `--help` lists them. */
export const commands: readonly Command[] = [
  dev,
  ...topicCommands,
  ...subscriptionCommands,
  produce,
  consume,
  ...groupCommands,
  ...keyCommands,
  ...aclCommands,
  ...maintenanceCommands,
];

/** Words that need a subcommand: `topics`, `subscriptions`, `groups`, `keys`, `acls`, `maintenance`. */
const groups = new Set(commands.filter((c) => c.words.length > 1).map((c) => c.words[0]));

const isGroup = (words: readonly string[]) => words.length === 1 && groups.has(words[0] ?? '');

const find = (words: readonly string[]) =>
  commands.find((c) => c.words.length === words.length && c.words.every((w, i) => w === words[i]));

/** Where to point someone who got a command wrong: its help, its group's, or the global one. */
function helpHint(words: readonly string[]): string {
  const known = find(words) ? words : isGroup(words.slice(0, 1)) ? words.slice(0, 1) : [];
  return `Run 'tributary ${known.length > 0 ? `${known.join(' ')} ` : ''}--help' for usage.`;
}

/** The help text for `words` (a command, a group, or nothing), or undefined if unknown. */
function helpFor(words: readonly string[]): string | undefined {
  if (words.length === 0) return globalHelp(commands);
  const command = find(words);
  if (command) return commandHelp(command);
  if (isGroup(words)) return groupHelp(words[0] ?? '', commands);
  return undefined;
}

/** Resolves the command `words` name, or explains what was meant with a UsageError. */
function commandFor(words: readonly string[]): Command {
  const command = find(words);
  if (command) return command;
  const [first = '', second] = words;
  if (isGroup([first])) {
    const known = commands.filter((c) => c.words[0] === first).map((c) => c.words[1]);
    throw new UsageError(
      second === undefined
        ? `'${first}' needs a command: ${known.join(', ')}.`
        : `Unknown command '${first} ${second}'; '${first}' has: ${known.join(', ')}.`,
    );
  }
  const known = [...new Set(commands.map((c) => c.words[0]))];
  throw new UsageError(`Unknown command '${first}'; commands: ${known.join(', ')}.`);
}

/** Checks the positional arguments against the command's `<required>` and `[optional]` ones. */
function checkArguments(command: Command, positionals: readonly string[]): void {
  const required = command.args.filter((a) => a.startsWith('<')).length;
  const missing = command.args[positionals.length];
  if (positionals.length < required && missing !== undefined) {
    throw new UsageError(
      `Missing ${missing}: tributary ${[...command.words, ...command.args].join(' ')}.`,
    );
  }
  const extra = positionals[command.args.length];
  if (extra !== undefined) throw new UsageError(`Unexpected argument '${extra}'.`);
}

/**
 * Runs the CLI on `argv` (without `node` and the script) and resolves with the exit code.
 * Errors are printed to stderr here, once: `tributary: CODE: message`.
 */
export async function main(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  const { words, rest } = splitCommand(argv, isGroup);
  let command: Command | undefined;
  const interrupt = new AbortController();
  // SIGTERM (kill, timeout, docker stop, systemd) stops a command as Ctrl-C does, so a group
  // member leaves its group at once instead of holding its partitions for a session.
  let stoppedWith: ExitCode = exitCodes.interrupted;
  const stopOn = (code: ExitCode) => () => {
    // A second signal, or one during a command that cannot stop cleanly, ends it at once.
    if (interrupt.signal.aborted || !command?.interruptible) process.exit(code);
    stoppedWith = code;
    interrupt.abort();
    setTimeout(() => process.exit(code), 5_000).unref();
  };
  const onSigint = stopOn(exitCodes.interrupted);
  const onSigterm = stopOn(exitCodes.terminated);
  process.on('SIGINT', onSigint);
  try {
    if (words[0] === 'help') {
      const asked = [...words.slice(1), ...rest.filter((a) => !a.startsWith('-'))];
      const text = helpFor(asked);
      if (text === undefined) commandFor(asked);
      process.stdout.write(text ?? '');
      return exitCodes.ok;
    }
    if (wantsHelp(rest)) {
      const text = helpFor(words);
      if (text === undefined) commandFor(words);
      process.stdout.write(text ?? '');
      return exitCodes.ok;
    }
    if (words.length === 0) {
      process.stderr.write(globalHelp(commands));
      return exitCodes.usage;
    }
    command = commandFor(words);
    const { positionals, flags } = parseFlags(rest, command.options);
    checkArguments(command, positionals);
    let client: Tributary | undefined;
    const context: Context = {
      args: positionals,
      flags,
      env,
      signal: interrupt.signal,
      client: () => {
        client ??= new Tributary(resolveConnection(flags, env));
        return client;
      },
    };
    // Connection settings are checked before the command does anything.
    if (command !== dev) context.client();
    // dev passes SIGTERM on to the server it runs, and exits as the server does.
    if (command !== dev) process.on('SIGTERM', onSigterm);
    const code = await command.run(context);
    return code === exitCodes.interrupted ? stoppedWith : code;
  } catch (error: unknown) {
    let code = exitCodeFor(error);
    if (code === exitCodes.interrupted) code = stoppedWith;
    if (error instanceof UsageError) {
      process.stderr.write(`tributary: ${error.message}\n${helpHint(words)}\n`);
    } else if (
      code !== exitCodes.ok &&
      code !== exitCodes.interrupted &&
      code !== exitCodes.terminated
    ) {
      process.stderr.write(`tributary: ${describeError(error)}\n`);
    }
    return code;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
}
