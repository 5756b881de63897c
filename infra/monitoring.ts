import { Duration, Stack } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  type Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IAlarmAction,
  type IMetric,
  type IWidget,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/**
 * The `service` dimension the function's Powertools Metrics put on every metric
 * (POWERTOOLS_SERVICE_NAME).
 */
export const metricsService = 'tributary';

/** Alarms and the dashboard look at 5-minute sums: short enough to page on, long enough to be quiet. */
const period = Duration.minutes(5);

/**
 * The 5xx alarm needs this many requests in a period before a rate means anything: at 20
 * requests, one 503 a client retried is already 5%.
 */
export const minRequestsForErrorRate = 100;

/** Percent of requests answered 5xx, over one period, above which the API alarms. */
export const maxServerErrorPercent = 1;

export interface TributaryMonitoringProps {
  readonly api: HttpApi;
  readonly handler: IFunction;
  readonly table: Table;
  /** Where the function's Embedded Metric Format metrics land (POWERTOOLS_METRICS_NAMESPACE). */
  readonly metricsNamespace: string;
  /** Run on every alarm's change to ALARM and back to OK. */
  readonly alarmActions: readonly IAlarmAction[];
  /** The maintenance workflow's alarms, shown and actioned with the others, and its row. */
  readonly maintenance?: {
    readonly alarms: readonly Alarm[];
    widgets(): IWidget[];
  };
}

/**
 * The alarms a Tributary operator needs and one dashboard that explains them. The
 * maintenance workflow brings its own two (infra/maintenance.ts), shown and actioned here.
 *
 * Each alarm stands for something a client saw go wrong, and nothing else:
 * - `apiServerErrors`: more than 1% of requests answered 5xx over 5 minutes (with at least
 *   100 requests). Covers failures the function reports (INTERNAL, STORAGE_UNAVAILABLE —
 *   DynamoDB and S3 system errors end there — and COMMIT_CONFLICT), and those it cannot:
 *   a crash, a timeout, an integration failure.
 * - `functionErrors`: every Lambda error. The handler turns every failure into a response, so
 *   an error here is a crash, a timeout or a failed cold start (e.g. the admin key secret
 *   cannot be read), which no other metric names as plainly.
 * - `functionThrottles`: Lambda refused invocations: the account's concurrency is exhausted.
 * - `tableThrottles`: DynamoDB throttled reads or writes in two consecutive periods: a hot
 *   partition or a spike beyond on-demand's instant capacity, which clients see as THROTTLED
 *   (429, retryable) once the SDK's own retries are spent. Two periods, so a burst the
 *   retries absorbed does not page anyone.
 *
 * Deliberately not alarmed: DynamoDB `UserErrors` is one figure for every table in the
 * account and region, so it would page for other applications; commit conflicts are the
 * normal price of concurrent writers to one partition (they are on the dashboard).
 */
export class TributaryMonitoring extends Construct {
  readonly apiServerErrors: Alarm;
  readonly functionErrors: Alarm;
  readonly functionThrottles: Alarm;
  readonly tableThrottles: Alarm;
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: TributaryMonitoringProps) {
    super(scope, id);
    const { api, handler, table } = props;
    const sum = { statistic: 'Sum', period };
    const requests = api.metric('Count', { ...sum, label: 'requests' });
    const serverErrors = api.metric('5xx', { ...sum, label: '5xx' });
    const clientErrors = api.metric('4xx', { ...sum, label: '4xx' });
    const own = (metricName: string, label: string): Metric =>
      new Metric({
        namespace: props.metricsNamespace,
        metricName,
        dimensionsMap: { service: metricsService },
        ...sum,
        label,
      });
    // Every dimension set a metric is emitted with (Errors by code, and whatever split
    // Records and Bytes carry), one line each. Dashboards only: alarms cannot SEARCH.
    const search = (metricName: string): MathExpression =>
      new MathExpression({
        expression: `SEARCH('Namespace="${props.metricsNamespace}" MetricName="${metricName}"', 'Sum', ${period.toSeconds()})`,
        usingMetrics: {},
        label: '',
        period,
      });
    const throttleEvents = new MathExpression({
      expression: 'reads + writes',
      usingMetrics: {
        reads: table.metric('ReadThrottleEvents', sum),
        writes: table.metric('WriteThrottleEvents', sum),
      },
      label: 'throttle events',
      period,
    });

    this.apiServerErrors = new MathExpression({
      expression: `IF(requests >= ${minRequestsForErrorRate}, 100 * errors / requests, 0)`,
      usingMetrics: { requests, errors: serverErrors },
      label: '5xx %',
      period,
    }).createAlarm(this, 'ApiServerErrors', {
      alarmDescription: `Tributary: more than ${maxServerErrorPercent}% of API requests answered 5xx over 5 minutes (at least ${minRequestsForErrorRate} requests). See the dashboard's "Errors by code" and the function's log.`,
      threshold: maxServerErrorPercent,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.functionErrors = handler.metricErrors(sum).createAlarm(this, 'FunctionErrors', {
      alarmDescription:
        'Tributary: the API function crashed, timed out or failed to start (it answers every handled error itself). See its log.',
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.functionThrottles = handler.metricThrottles(sum).createAlarm(this, 'FunctionThrottles', {
      alarmDescription:
        "Tributary: Lambda refused invocations of the API function: the account's concurrency is exhausted.",
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.tableThrottles = throttleEvents.createAlarm(this, 'TableThrottles', {
      alarmDescription:
        'Tributary: DynamoDB throttled the metadata table in two consecutive 5-minute periods; clients are getting THROTTLED (429).',
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    const alarms = [
      this.apiServerErrors,
      this.functionErrors,
      this.functionThrottles,
      this.tableThrottles,
      ...(props.maintenance?.alarms ?? []),
    ];
    for (const alarm of alarms) {
      alarm.addAlarmAction(...props.alarmActions);
      alarm.addOkAction(...props.alarmActions);
    }

    const latency = (statistic: string) =>
      api.metric('Latency', { statistic, period, label: `latency ${statistic}` });
    const duration = (statistic: string) =>
      handler.metricDuration({ statistic, period, label: `duration ${statistic}` });
    const graph = (title: string, left: IMetric[], right: IMetric[] = []): GraphWidget =>
      new GraphWidget({ title, left, right, width: 8, height: 6, leftYAxis: { min: 0 } });

    this.dashboard = new Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [new AlarmStatusWidget({ title: 'Alarms', alarms, width: 24, height: 2 })],
        [
          graph('Requests (API Gateway)', [requests], [clientErrors, serverErrors]),
          graph('Latency, ms (API Gateway)', [latency('p50'), latency('p99')]),
          graph('Errors by code (function)', [search('Errors')]),
        ],
        [
          graph('Records produced and fetched', [search('Records')]),
          graph('Bytes produced and fetched', [search('Bytes')]),
          graph('Commits: conflicts and retries', [
            own('CommitConflicts', 'conflicts'),
            own('CommitRetries', 'retries'),
          ]),
        ],
        [
          graph('Function duration, ms', [duration('p50'), duration('p99'), duration('Maximum')]),
          graph(
            'Function concurrency and throttles',
            [handler.metric('ConcurrentExecutions', { statistic: 'Maximum', period })],
            [handler.metricThrottles(sum), handler.metricErrors(sum)],
          ),
          graph(
            'DynamoDB capacity units',
            [
              table.metricConsumedReadCapacityUnits({ ...sum, label: 'read units' }),
              table.metricConsumedWriteCapacityUnits({ ...sum, label: 'write units' }),
            ],
            [throttleEvents],
          ),
        ],
        ...(props.maintenance ? [props.maintenance.widgets()] : []),
      ],
    });
  }

  /** The dashboard in the CloudWatch console of the stack's region. */
  get dashboardUrl(): string {
    const { region } = Stack.of(this);
    return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard.dashboardName}`;
  }
}
