import type { Verdict } from '../core/subscriptions/cursor.ts';
import type { DeliveryOutcome } from '../core/subscriptions/delivery-port.ts';
import type { Subscription } from '../core/subscriptions/subscription.ts';

/**
 * What the dispatcher reports (CloudWatch through Powertools in Lambda; nothing locally):
 * per subscription (dimension `subscription`, `<topic>/<name>`) records delivered, failed
 * deliveries, records dead-lettered, partitions waiting, and the iterator age — how old
 * the oldest undelivered record is — which the construct alarms on.
 */
export interface DispatchMetrics {
  delivery(sub: Subscription, verdict: Verdict, outcome: DeliveryOutcome): void;
  /** After a pass: the oldest undelivered record's age and how many partitions wait, per subscription. */
  pass(figures: readonly PassFigures[]): void;
}

export interface PassFigures {
  readonly subscription: string;
  readonly iteratorAgeMs: number;
  readonly waiting: number;
}

export const noDispatchMetrics: DispatchMetrics = { delivery: () => {}, pass: () => {} };

/** The `subscription` dimension's value. */
export const subscriptionLabel = (sub: Pick<Subscription, 'topic' | 'name'>): string =>
  `${sub.topic}/${sub.name}`;
