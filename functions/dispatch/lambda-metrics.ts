import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DispatchMetrics } from './metrics.ts';
import { subscriptionLabel } from './metrics.ts';

/**
 * The dispatcher's figures as Powertools metrics (Embedded Metric Format in the log, no API
 * call), each with the `subscription` dimension; iterator age also without it, so one
 * alarm covers every subscription.
 */
export function powertoolsDispatchMetrics(metrics: Metrics): DispatchMetrics {
  const emit = (
    name: string,
    unit: (typeof MetricUnit)[keyof typeof MetricUnit],
    value: number,
    subscription?: string,
  ) => {
    const single = metrics.singleMetric();
    if (subscription !== undefined) single.addDimension('subscription', subscription);
    single.addMetric(name, unit, value);
  };
  return {
    delivery: (sub, verdict, outcome) => {
      const label = subscriptionLabel(sub);
      if (
        verdict.kind === 'advance' ||
        verdict.kind === 'retry' ||
        verdict.kind === 'dead-letter'
      ) {
        if (verdict.delivered > 0) emit('Delivered', MetricUnit.Count, verdict.delivered, label);
      }
      if (verdict.kind !== 'advance' || outcome.kind !== 'ok') {
        emit('DeliveryErrors', MetricUnit.Count, 1, label);
      }
      if (verdict.kind === 'dead-letter') {
        emit('DeadLettered', MetricUnit.Count, verdict.offsets.length, label);
      }
    },
    pass: (figures) => {
      let oldest = 0;
      for (const figure of figures) {
        emit('IteratorAgeMs', MetricUnit.Milliseconds, figure.iteratorAgeMs, figure.subscription);
        if (figure.waiting > 0)
          emit('Waiting', MetricUnit.Count, figure.waiting, figure.subscription);
        oldest = Math.max(oldest, figure.iteratorAgeMs);
      }
      if (figures.length > 0) emit('IteratorAgeMs', MetricUnit.Milliseconds, oldest);
    },
  };
}
