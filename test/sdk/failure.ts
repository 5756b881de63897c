import { TributaryError } from '../../sdk/src/index.ts';

/** The TributaryError a call fails with; anything else, or success, fails the test. */
export async function failure(promise: Promise<unknown>): Promise<TributaryError> {
  try {
    await promise;
  } catch (caught: unknown) {
    if (caught instanceof TributaryError) return caught;
    throw caught;
  }
  throw new Error('it succeeded');
}
