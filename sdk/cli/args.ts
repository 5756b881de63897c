import { type ParseArgsOptionDescriptor, parseArgs } from 'node:util';
import { closest } from '../src/closest.ts';

/** One flag: how `parseArgs` reads it, and how `--help` shows it. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** May be given more than once; the values are collected in order. */
  readonly multiple?: boolean;
  /** The value's placeholder in help: `--partitions <n>`. */
  readonly value?: string;
  readonly help: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** Bad flags or arguments: exit code 2, with a pointer to `--help`. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Flags every command takes. */
export const globalOptions = {
  url: {
    type: 'string',
    value: '<url>',
    help: "the API's base URL (else $TRIBUTARY_URL, the profile, http://127.0.0.1:8080)",
  },
  'api-key': {
    type: 'string',
    value: '<key>',
    help: 'sent as Authorization: Bearer <key> (else $TRIBUTARY_API_KEY, the profile)',
  },
  profile: {
    type: 'string',
    value: '<name>',
    help: 'the profile to read from the config file (else $TRIBUTARY_PROFILE, "default")',
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies OptionSpecs;

type Values = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;

/** Typed, checked access to parsed flags; every bad value is a UsageError naming the flag. */
export class Flags {
  readonly #values: Values;

  constructor(values: Values) {
    this.#values = values;
  }

  string(name: string): string | undefined {
    const value = this.#values[name];
    return typeof value === 'string' ? value : undefined;
  }

  strings(name: string): string[] {
    const value = this.#values[name];
    if (Array.isArray(value)) return value.filter((v) => typeof v === 'string');
    return typeof value === 'string' ? [value] : [];
  }

  boolean(name: string): boolean {
    return this.#values[name] === true;
  }

  has(name: string): boolean {
    return this.#values[name] !== undefined;
  }

  /** An integer flag in [min, max], or undefined when absent. */
  integer(name: string, min: number, max: number): number | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    return integerArgument(text, `--${name}`, min, max);
  }

  /** One of `choices`, or `fallback` when absent. */
  oneOf<const T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const text = this.string(name);
    if (text === undefined) return fallback;
    const found = choices.find((c) => c === text);
    if (found === undefined) {
      throw new UsageError(`--${name} must be one of ${choices.join(', ')}; got '${text}'.`);
    }
    return found;
  }
}

/** A decimal integer in [min, max], or a UsageError naming `what`. */
export function integerArgument(text: string, what: string, min: number, max: number): number {
  const value = /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${what} must be an integer from ${min} to ${max}; got '${text}'.`);
  }
  return value;
}

/** Parses `args` against the global flags and `options`, refusing anything else. */
export function parseFlags(
  args: readonly string[],
  options: OptionSpecs,
): { readonly positionals: string[]; readonly flags: Flags } {
  const config: Record<string, ParseArgsOptionDescriptor> = {};
  const all: OptionSpecs = { ...globalOptions, ...options };
  for (const [name, spec] of Object.entries(all)) {
    config[name] = {
      type: spec.type,
      ...(spec.short !== undefined && { short: spec.short }),
      ...(spec.multiple !== undefined && { multiple: spec.multiple }),
    };
  }
  checkOptions(args, all, config);
  const { values, positionals } = parseArgs({
    args: [...args],
    options: config,
    allowPositionals: true,
    strict: true,
  });
  return { positionals, flags: new Flags(values) };
}

/**
 * Refuses, in the CLI's own words, what parseArgs would refuse in its own: an unknown
 * flag (with the known one it most likely meant), a flag missing its value, a value given
 * to a flag that takes none.
 */
function checkOptions(
  args: readonly string[],
  options: OptionSpecs,
  config: Record<string, ParseArgsOptionDescriptor>,
): void {
  const { tokens } = parseArgs({
    args: [...args],
    options: config,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    // parseArgs names a known short flag (-K) by its long name, an unknown one by its letter.
    const { name } = token;
    const spec = options[name];
    if (!spec) {
      const meant = token.rawName.startsWith('--')
        ? closest(token.name, Object.keys(options))
        : undefined;
      throw new UsageError(
        `Unknown option ${token.rawName}${meant ? ` (did you mean --${meant}?)` : ''}.`,
      );
    }
    if (spec.type === 'string' && token.value === undefined) {
      throw new UsageError(`Option --${name} needs a value: --${name} ${spec.value ?? '<value>'}.`);
    }
    // `--from -5`, `--from --exit`: parseArgs takes the next argument as the value only when
    // it does not look like a flag, so a value that starts with '-' is written `--from=-5`.
    if (spec.type === 'string' && !token.inlineValue && isDashed(token.value)) {
      const usage = `Option --${name} needs a value: --${name} ${spec.value ?? '<value>'}`;
      throw new UsageError(
        isFlag(token.value, options)
          ? `${usage}.`
          : `${usage}; '${token.value}' reads as a flag: write --${name}=${token.value} if it is the value.`,
      );
    }
    if (spec.type === 'boolean' && token.inlineValue) {
      throw new UsageError(`Option --${name} takes no value; write --${name} alone.`);
    }
  }
}

/** Whether an argument reads as a flag (`-5`, `--exit`) rather than a value (`-` is a value). */
const isDashed = (arg: string | undefined): arg is string =>
  arg?.startsWith('-') === true && arg !== '-';

/** Whether `arg` is one of `options`' flags, long (`--exit`) or short (`-e`). */
function isFlag(arg: string, options: OptionSpecs): boolean {
  const [flag = ''] = arg.split('=', 1);
  if (flag.startsWith('--')) return flag.slice(2) in options;
  return Object.values(options).some(
    (spec) => spec.short !== undefined && flag === `-${spec.short}`,
  );
}

/**
 * Splits argv into the command's words (`topics create`) and everything else, so global
 * flags may come before the command: `tributary --url http://… topics list`. `isGroup`
 * says whether the words so far name a group that needs a subcommand word.
 */
export function splitCommand(
  argv: readonly string[],
  isGroup: (words: readonly string[]) => boolean,
): { readonly words: string[]; readonly rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  const takesValue = new Set(
    Object.entries(globalOptions)
      .filter(([, spec]) => spec.type === 'string')
      .map(([name]) => `--${name}`),
  );
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? '';
    if (token === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (token.startsWith('-') && token !== '-') {
      rest.push(token);
      if (takesValue.has(token) && i + 1 < argv.length) rest.push(argv[++i] ?? '');
      continue;
    }
    if (words.length === 0 || isGroup(words)) words.push(token);
    else rest.push(token);
  }
  return { words, rest };
}

/** Whether `--help` or `-h` comes before any `--`. */
export function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}
