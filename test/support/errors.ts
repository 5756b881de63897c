import { TributaryError } from '../../functions/core/errors.ts';

/** The code of the TributaryError `fn` throws, or a word saying it threw none. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error: unknown) {
    return error instanceof TributaryError ? error.code : 'not a TributaryError';
  }
  return 'no error';
}
