import type { ErrorCode } from '../../sdk/src/error-codes.ts';

export type ErrorDetails = Record<string, unknown>;

/**
 * A failure the caller can act on, with a stable code from the shared list. The HTTP
 * layer renders it as `{"error": {"code", "message", ...details}}`; anything that is not
 * a TributaryError becomes a 500 that hides its internals.
 */
export class TributaryError extends Error {
  override readonly name = 'TributaryError';
  readonly code: ErrorCode;
  readonly details: ErrorDetails;
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

export const isTributaryError = (error: unknown): error is TributaryError =>
  error instanceof TributaryError;
