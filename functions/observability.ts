import { LogLevel, Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { Logger } from './http/logger.ts';
import type { Metrics } from './http/metrics.ts';

/**
 * Lambda's structured logs and CloudWatch metrics, through Powertools for AWS Lambda:
 * JSON log lines carrying the Lambda request id, and metrics in Embedded Metric Format
 * (written to the log, no API call), published once per invocation.
 */
export function lambdaObservability(env: Record<string, string | undefined> = process.env) {
  const wanted = (env.TRIBUTARY_LOG_LEVEL ?? 'INFO').toUpperCase();
  const logLevel = Object.values(LogLevel).find((level) => level === wanted);
  if (!logLevel) {
    throw new Error(`TRIBUTARY_LOG_LEVEL must be one of ${Object.values(LogLevel).join(', ')}`);
  }
  const logger = new PowertoolsLogger({
    serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'tributary',
    logLevel,
  });
  const settings = {
    namespace: env.POWERTOOLS_METRICS_NAMESPACE ?? 'Tributary',
    serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'tributary',
  };
  const metrics = new PowertoolsMetrics(settings);
  /**
   * Metrics with dimensions of their own, one Powertools instance per combination, so that
   * what one invocation counts under it (a produce's Records and Bytes) goes out as one
   * log line rather than one each: CloudWatch Logs bills every byte ingested.
   */
  const dimensioned = new Map<string, PowertoolsMetrics>();
  const log: Logger = {
    info: (message, fields) => logger.info(message, { ...fields }),
    error: (message, fields) => logger.error(message, { ...fields }),
  };
  const counters: Metrics = {
    count: (name, value = 1, dimensions) => {
      if (!dimensions) {
        metrics.addMetric(name, MetricUnit.Count, value);
        return;
      }
      const key = JSON.stringify(Object.entries(dimensions).sort());
      let set = dimensioned.get(key);
      if (!set) {
        set = new PowertoolsMetrics({ ...settings, defaultDimensions: { ...dimensions } });
        dimensioned.set(key, set);
      }
      set.addMetric(name, MetricUnit.Count, value);
    },
  };
  /** Writes what the invocation counted, once, at its end. */
  const publish = (): void => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    for (const set of dimensioned.values()) {
      if (set.hasStoredMetrics()) set.publishStoredMetrics();
    }
  };
  return { logger, metrics, log, counters, publish };
}
