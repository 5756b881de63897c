/**
 * The delivery port: how the dispatcher hands one batch to a subscription's target. The
 * Lambda adapter (functions/adapters/aws/lambda-target.ts) invokes a function with
 * `@aws-sdk/client-lambda`; the webhook adapter (functions/adapters/webhook-target.ts) POSTs
 * a signed request. The core decides what an outcome means for the position, retries and
 * dead letters; the adapters only translate what their wire said.
 *
 * Error contract: `deliver` never throws for anything the target or the network did — every
 * such failure is an outcome, so partial failure is data. It throws only for a bug.
 */

import type { SubscriptionTarget } from './subscription.ts';

export type DeliveryOutcome =
  /** The target took the batch. `body` is its answer (a partial batch response, or nothing). */
  | { readonly kind: 'ok'; readonly body: string }
  /**
   * The target ran and failed (a function error, a webhook's 5xx, or no answer within the
   * timeout): the batch is retried, counted against maxRetryAttempts, and bisected if asked.
   */
  | { readonly kind: 'failed'; readonly error: string }
  /**
   * The target refused the batch for good (a webhook's 4xx other than 429, a payload it
   * cannot take): retrying cannot help, so it goes straight to onFailure (or waits).
   */
  | { readonly kind: 'rejected'; readonly error: string }
  /**
   * The target was not invoked: throttled (Lambda's TooManyRequestsException, a webhook's
   * 429), unreachable, missing, or not allowed. Retried with backoff until it works or the
   * records pass maxRecordAgeMs; not counted against maxRetryAttempts, as Lambda's event
   * source mappings do for errors before invocation.
   */
  | { readonly kind: 'unavailable'; readonly error: string; readonly throttled: boolean };

export interface DeliveryRequest {
  readonly target: SubscriptionTarget;
  /** The event, serialized: the body every target receives. */
  readonly body: string;
  /** The subscription, for headers a receiver can route on. */
  readonly subscription: { readonly topic: string; readonly name: string };
  /** Signs webhook requests; absent for Lambda targets. */
  readonly secret?: string;
  /** Give up waiting after this long (the outcome is then `failed`). */
  readonly timeoutMs: number;
}

export interface DeliveryPort {
  deliver(request: DeliveryRequest): Promise<DeliveryOutcome>;
}
