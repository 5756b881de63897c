import { fileURLToPath } from 'node:url';
import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import {
  type Alarm,
  ComparisonOperator,
  type Dashboard,
  GraphWidget,
  type IAlarmAction,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { tributaryFunction } from './lambda-function.ts';
import { logicalIdOf } from './logical-id.ts';

/** The dispatcher Lambda's entry point. */
export const dispatcherEntry = fileURLToPath(
  new URL('../functions/dispatch/lambda.ts', import.meta.url),
);

export interface TributaryDispatcherProps {
  readonly table: Table;
  readonly bucket: Bucket;
  /** The API's URL: events name it as their bootstrapServers. */
  readonly apiUrl: string;
  /** ARNs of the functions subscriptions may invoke; the role may invoke these and no other. */
  readonly subscriberFunctions: readonly string[];
  /** How long a delivery may take; a target function's timeout should be shorter. */
  readonly deliveryTimeout: Duration;
  /** How often the safety-net pass runs. */
  readonly schedule: Duration;
  /** The oldest undelivered record's age above which the iterator-age alarm fires. */
  readonly maxIteratorAge: Duration;
  readonly metricsNamespace: string;
  readonly metricsService: string;
  readonly logLevel: string;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly alarmActions: readonly IAlarmAction[];
}

/**
 * Push delivery: a Lambda function that delivers subscribed topics' records to their
 * targets. It is woken by the metadata table's DynamoDB Stream when partition heads advance
 * (an event filter lets only head changes through, so index entries, cursors and groups
 * never invoke it) and, as a safety net, by a schedule: retries that came due, partitions a
 * crashed run left, a stream batch that was lost.
 */
export class TributaryDispatcher extends Construct {
  readonly function: NodejsFunction;
  /** The oldest undelivered record, over every subscription, is older than maxIteratorAge. */
  readonly iteratorAge: Alarm;
  /** The dispatcher crashed, timed out or failed to start. */
  readonly errors: Alarm;

  constructor(scope: Construct, id: string, props: TributaryDispatcherProps) {
    super(scope, id);
    const timeoutMs = props.deliveryTimeout.toMilliseconds();
    // The dispatcher runs 15 minutes at most, and must fit a few deliveries in a run.
    if (timeoutMs < 1_000 || timeoutMs > 300_000) {
      throw new Error(
        `deliveryTimeout must be from 1 second to 5 minutes; got ${props.deliveryTimeout.toHumanString()}`,
      );
    }
    // Room for a few deliveries back to back, plus the writes around them; at most 15 min.
    const timeout = Duration.millis(Math.min(900_000, Math.max(300_000, 3 * timeoutMs)));

    const { handler, role } = tributaryFunction(this, 'Function', {
      description: 'Tributary dispatcher: delivers subscribed records',
      entry: dispatcherEntry,
      memorySize: 512,
      timeout,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      environment: {
        TRIBUTARY_STORE: 'aws',
        TRIBUTARY_TABLE: props.table.tableName,
        TRIBUTARY_BUCKET: props.bucket.bucketName,
        TRIBUTARY_CACHE_MB: '64',
        TRIBUTARY_SUBSCRIBER_FUNCTIONS: props.subscriberFunctions.join(','),
        TRIBUTARY_DELIVERY_TIMEOUT_MS: String(timeoutMs),
        TRIBUTARY_PUBLIC_URL: props.apiUrl,
        TRIBUTARY_LOG_LEVEL: props.logLevel,
        POWERTOOLS_SERVICE_NAME: props.metricsService,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
      },
    });
    this.function = handler;

    // Cursors, dead letters (the produce path) and reads: data actions on this table only.
    props.table.grantReadWriteData(this.function);
    // Reads batches; dead letters write a chunk. No delete: only the maintenance function,
    // which can tell a dead chunk from a live one, deletes objects.
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [props.bucket.arnForObjects('*')],
      }),
    );
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.bucket.bucketArn] }),
    );
    // Exactly the functions the deployment lists, and no other.
    if (props.subscriberFunctions.length > 0) {
      this.function.addToRolePolicy(
        new PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [...props.subscriberFunctions],
        }),
      );
    }

    // Woken when heads advance. KEYS_ONLY: the keys say which partitions; the pass reads the
    // rest. Ten batches per shard at once, in order per partition, so a slow target holds
    // up only the partitions hashed with it.
    this.function.addEventSource(
      new DynamoEventSource(props.table, {
        startingPosition: StartingPosition.LATEST,
        batchSize: 1000,
        parallelizationFactor: 10,
        retryAttempts: 2,
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.or('INSERT', 'MODIFY'),
            dynamodb: { Keys: { sk: { S: FilterRule.isEqual('head') } } },
          }),
        ],
      }),
    );
    new Rule(this, 'Schedule', {
      description: 'Tributary dispatcher safety net: retries due, partitions left behind',
      schedule: Schedule.rate(props.schedule),
      targets: [new LambdaFunction(this.function, { retryAttempts: 0 })],
    });

    Validations.of(role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          "dynamodb:ListStreams, which Lambda's event source mapping needs to find the table's stream, has no resource to scope it to; the stream reads themselves are limited to this table's stream.",
      },
      {
        id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.bucket)}.Arn>/*]`,
        reason:
          'Chunks are written under unique keys made at produce time (dead letters too), so object access cannot name them in advance; the wildcard covers the objects of this one bucket only.',
      },
    );

    const period = Duration.minutes(5);
    const age = new Metric({
      namespace: props.metricsNamespace,
      metricName: 'IteratorAgeMs',
      dimensionsMap: { service: props.metricsService },
      statistic: 'Maximum',
      period,
    });
    this.iteratorAge = age.createAlarm(this, 'IteratorAge', {
      alarmDescription: `Tributary: a subscription's oldest undelivered record is older than ${props.maxIteratorAge.toHumanString()}: a target is failing or waiting on a record (see describe, and the dashboard's subscription rows).`,
      threshold: props.maxIteratorAge.toMilliseconds(),
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.errors = this.function
      .metricErrors({ statistic: 'Sum', period })
      .createAlarm(this, 'Errors', {
        alarmDescription:
          'Tributary: the dispatcher function crashed, timed out or failed to start. See its log.',
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    for (const alarm of [this.iteratorAge, this.errors]) {
      alarm.addAlarmAction(...props.alarmActions);
      alarm.addOkAction(...props.alarmActions);
    }
  }

  /** Subscription rows for the deployment's dashboard. */
  addTo(dashboard: Dashboard, namespace: string): void {
    const search = (metricName: string, statistic: string) =>
      new MathExpression({
        expression: `SEARCH('Namespace="${namespace}" MetricName="${metricName}" subscription', '${statistic}', 300)`,
        usingMetrics: {},
        label: '',
        period: Duration.minutes(5),
      });
    const graph = (title: string, metrics: MathExpression[]) =>
      new GraphWidget({ title, left: metrics, width: 8, height: 6, leftYAxis: { min: 0 } });
    dashboard.addWidgets(
      graph('Subscriptions: iterator age, ms', [search('IteratorAgeMs', 'Maximum')]),
      graph('Subscriptions: delivered and dead-lettered', [
        search('Delivered', 'Sum'),
        search('DeadLettered', 'Sum'),
      ]),
      graph('Subscriptions: delivery errors and waiting partitions', [
        search('DeliveryErrors', 'Sum'),
        search('Waiting', 'Maximum'),
      ]),
    );
  }
}
