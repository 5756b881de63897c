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
  const metrics = new PowertoolsMetrics({
    namespace: env.POWERTOOLS_METRICS_NAMESPACE ?? 'Tributary',
    serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'tributary',
  });
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
      // A metric with its own dimensions goes out on its own.
      const single = metrics.singleMetric();
      for (const [key, dimension] of Object.entries(dimensions))
        single.addDimension(key, dimension);
      single.addMetric(name, MetricUnit.Count, value);
    },
  };
  return { logger, metrics, log, counters };
}
