import { TributaryError } from '../src/index.ts';
import { UsageError } from './args.ts';

/** What the CLI's exit status means; scripts rely on these, so they never change. */
export const exitCodes = {
  ok: 0,
  /** The operation failed: an error from the server or the network, or bad input data. */
  failed: 1,
  /** Bad flags or arguments: nothing was done. */
  usage: 2,
  /** The topic, partition, group, key, ACL or maintenance run named does not exist. */
  notFound: 3,
  /** Stopped by SIGINT (Ctrl-C), as shells report 128 + 2. */
  interrupted: 130,
  /** Stopped by SIGTERM (`kill`, `timeout`, a service manager), as shells report 128 + 15. */
  terminated: 143,
} as const;

export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];

/** Codes that mean "the thing you named does not exist" (not NOT_FOUND, a missing route). */
export const notFoundCodes: readonly string[] = [
  'TOPIC_NOT_FOUND',
  'PARTITION_NOT_FOUND',
  'GROUP_NOT_FOUND',
  'KEY_NOT_FOUND',
  'ACL_NOT_FOUND',
  'MAINTENANCE_RUN_NOT_FOUND',
  'SUBSCRIPTION_NOT_FOUND',
];

/**
 * Bad data read from stdin or `--file` (a line that is not JSON, bad base64): the operation
 * failed (exit 1), and the message names the line.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** Whether writing to stdout failed because its reader went away (`| head`). */
export function isBrokenPipe(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'EPIPE';
}

/** The exit code for an error a command threw. */
export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof UsageError) return exitCodes.usage;
  if (isBrokenPipe(error)) return exitCodes.ok;
  if (error instanceof TributaryError) {
    // The SDK refused an argument before sending anything: a bad --url, say.
    if (error.code === 'INVALID_ARGUMENT') return exitCodes.usage;
    if (error.code === 'ABORTED') return exitCodes.interrupted;
    if (notFoundCodes.includes(error.code)) return exitCodes.notFound;
  }
  return exitCodes.failed;
}

/** The line printed to stderr for an error: the stable code first, for scripts to match. */
export function describeError(error: unknown): string {
  if (error instanceof TributaryError) {
    const request =
      error.requestId !== undefined && (error.status ?? 0) >= 500
        ? ` (request id ${error.requestId})`
        : '';
    return `${error.code}: ${error.message}${request}`;
  }
  if (error instanceof InputError) return `INVALID_INPUT: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
