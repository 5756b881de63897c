import type { Tributary } from '../src/index.ts';
import type { Flags, OptionSpecs } from './args.ts';
import type { ExitCode } from './exit-codes.ts';

/** What a command gets to run with. */
export interface Context {
  /** The positional arguments after the command's words, checked against `args`. */
  readonly args: readonly string[];
  readonly flags: Flags;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Fires on SIGINT, for commands that are `interruptible`. */
  readonly signal: AbortSignal;
  /** A client for the resolved URL and key; built on first use. */
  client(): Tributary;
}

/** One command of the CLI: its words, its help, and what it does. */
export interface Command {
  /** `['topics', 'create']`. */
  readonly words: readonly string[];
  /** `['<name>']`: `<…>` is required, `[…]` optional. */
  readonly args: readonly string[];
  readonly summary: string;
  /** Paragraphs shown under the usage line in `--help`. */
  readonly description: string;
  readonly options: OptionSpecs;
  readonly examples: readonly string[];
  /**
   * Whether the command stops cleanly by itself on SIGINT (watching `signal`); other
   * commands are ended at once with 130.
   */
  readonly interruptible?: boolean;
  /** Resolves with the exit code; throwing maps the error to one (see exit-codes.ts). */
  run(context: Context): Promise<ExitCode>;
}

/** `--output text|json`, which every command that prints a result takes. */
export const outputOption = {
  output: {
    type: 'string',
    value: 'text|json',
    help: 'text for people (default), json for scripts: one JSON document',
  },
} as const satisfies OptionSpecs;
