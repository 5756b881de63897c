import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const main = join(import.meta.dirname, '../../sdk/bin/tributary.js');

/** A home of its own, so no real ~/.config/tributary/config.json is ever read. */
const home = mkdtempSync(join(tmpdir(), 'tributary-cli-home-'));

export interface CliResult {
  /** The exit code; null only if a signal ended the process. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Written to stdin, which is then closed (an empty stdin when absent). */
  readonly input?: string | Uint8Array;
  /** Added to the environment; undefined removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Leaves stdin open and empty, as a terminal's is until someone types. */
  readonly openStdin?: boolean;
}

/** The environment every run starts from: nothing from the developer's shell but PATH. */
function environment(extra: Readonly<Record<string, string | undefined>>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home };
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Starts `tributary <args>` as a real process: this Node binary running the package's bin. */
export function startCli(args: readonly string[], options: CliOptions = {}): ChildProcess {
  const child = spawn(process.execPath, [main, ...args], {
    env: environment(options.env ?? {}),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (!options.openStdin) child.stdin?.end(options.input ?? '');
  return child;
}

/** What a started CLI printed, once it has exited. Kills it after `timeoutMs`. */
export function finished(child: ChildProcess, timeoutMs = 30_000): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the CLI did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Runs `tributary <args>` to completion.
 *
 * @example
 * const { code, stdout } = await cli(['topics', 'list'], { env: { TRIBUTARY_URL: url } });
 */
export function cli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return finished(startCli(args, options));
}

/** Lines of output, without the newline that ends the last. */
export const lines = (text: string): string[] =>
  text === '' ? [] : text.replace(/\n$/, '').split('\n');

/** The CLI aimed at a server through TRIBUTARY_URL, as a user's environment would aim it. */
export const cliAt =
  (url: () => string) =>
  (args: readonly string[], options: CliOptions = {}): Promise<CliResult> =>
    cli(args, { ...options, env: { TRIBUTARY_URL: url(), ...options.env } });
