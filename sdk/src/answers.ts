import type { HttpAnswer } from './http.ts';

/**
 * The body of a successful answer, as the type the API reference (docs/api.md) documents
 * for the route. The SDK trusts the server's contract rather than re-validating every
 * field; this is the one place that trust is written down.
 */
export function bodyOf<T>(answer: HttpAnswer): T {
  return answer.body as T;
}
