import { fileURLToPath } from 'node:url';
import { ArnFormat, Duration, type RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import {
  type Alarm,
  ComparisonOperator,
  GraphWidget,
  type IMetric,
  type IWidget,
  MathExpression,
  Metric,
  type MetricOptions,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { Grant, type IGrantable, Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import {
  Choice,
  Condition,
  CustomState,
  DefinitionBody,
  Errors,
  JitterType,
  JsonPath,
  Map as MapState,
  Pass,
  type RetryProps,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke, type LambdaInvokeProps } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { minOrphanGraceMs } from '../functions/maintenance/settings.ts';
import type { StepName } from '../functions/maintenance/steps.ts';
import { tributaryFunction } from './lambda-function.ts';
import { logicalIdOf } from './logical-id.ts';
import { metricsService } from './monitoring.ts';

/** The maintenance Lambda's entry point. */
export const maintenanceEntry = fileURLToPath(
  new URL('../functions/maintenance/lambda.ts', import.meta.url),
);

/**
 * Work steps one item may take in one execution: an item with more to do after these waits
 * for the next pass (a partition sheds up to 20 × 500 expired index entries per pass). With
 * {@link itemsPerExecution}, it keeps an execution's history below Step Functions' 25,000
 * events whatever the items hold (see the definition's comment).
 */
export const stepsPerItem = 20;

/**
 * Work items one execution runs before it hands the rest of its pass to a new execution
 * ("continue as new"): more than a page (100 items), so a pass that fits one page never
 * needs a second execution.
 */
export const itemsPerExecution = 120;

/** Longest an execution may run before it counts as timed out (and the alarm fires). */
export const executionTimeout = Duration.hours(1);

/** Attempts of a step that fails: the first and two retries, as the local runner does. */
const stepRetry: RetryProps = {
  errors: [Errors.ALL],
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 2,
  jitterStrategy: JitterType.FULL,
};

export interface TributaryMaintenanceProps {
  /**
   * How often a pass starts. A pass frees the storage of what retention expired (reads
   * never see it meanwhile), sweeps orphaned chunks and purges deleted topics; an idle pass
   * costs a few state transitions and Lambda invocations. An hour keeps expired data
   * stored for at most an hour longer (1/730 of a month's storage) at about 720 idle
   * passes a month. Passes may overlap harmlessly.
   * @default Duration.hours(1)
   */
  readonly interval?: Duration;
  /**
   * Work items run at once by the state machine's Map: partitions cleaned, topics swept,
   * deleted topics purged. More finishes a pass sooner at more DynamoDB and S3 requests per
   * second; an inline Map runs at most 40.
   * @default 4
   */
  readonly maxConcurrency?: number;
  /**
   * How old a chunk that no index entry refers to must be before the orphan sweep deletes
   * it (TRIBUTARY_ORPHAN_GRACE_MS): longer than any produce's commit can take, and at
   * least the 2.5 minutes that keep the sweep safe (functions/maintenance/settings.ts).
   * @default Duration.minutes(10)
   */
  readonly orphanGrace?: Duration;
}

/** What the Tributary construct hands its maintenance workflow. */
export interface MaintenanceResources {
  readonly table: Table;
  readonly bucket: Bucket;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly logLevel: string;
  readonly metricsNamespace: string;
}

/**
 * The maintenance workflow: a Lambda function that runs one step of a pass per invocation
 * (functions/maintenance/lambda.ts), a Standard Step Functions state machine that drives the
 * steps, and an EventBridge schedule that starts it. The API starts it on demand.
 *
 * The definition keeps to JSONPath and an inline Map, which aws-local-stepfunctions runs in
 * the tests (test/infra/maintenance-state-machine.test.ts), and does what the in-process
 * runner does (functions/maintenance/run-pass.ts):
 *
 *   {} ─► Handed a page? ─no─► Begin ─► Plan ─► Count ─► Next? ─page done──► Finish
 *              │ yes                     ▲                  ├─over budget─► Hand over
 *              ▼                         │ results          │ else
 *         Work on page (Map over $.page.items) ◄────────────┘
 *           per item: Work ─► More? ─($.more and under 20 steps)─► Work
 *                       │           └─else─► Item done
 *                       └─throws after 2 retries─► Failed
 *
 * What stays small: the state holds the pass id, one page (at most 100 items) and the Map's
 * results for that page, well under the 256 KB limit. The execution's history (25,000
 * events, counting the inline Map's) is bounded by {@link stepsPerItem} per item and by
 * handing over, with a `StartExecution` of this same state machine, the page that would
 * take an execution past {@link itemsPerExecution} items: at about 7 events per step, 120
 * items of 20 steps are some 20,000 events.
 */
export class TributaryMaintenance extends Construct {
  /** Runs the steps. */
  readonly handler: NodejsFunction;
  readonly stateMachine: StateMachine;
  /** Starts a pass every `interval`. */
  readonly schedule: Rule;
  /** Any execution failed or timed out. */
  readonly executionsFailed: Alarm;
  /** A pass finished with work items that failed after their retries. */
  readonly passFailures: Alarm;

  readonly #metricsNamespace: string;

  constructor(
    scope: Construct,
    id: string,
    props: TributaryMaintenanceProps & MaintenanceResources,
  ) {
    super(scope, id);
    const interval = props.interval ?? Duration.hours(1);
    const maxConcurrency = props.maxConcurrency ?? 4;
    const orphanGrace = props.orphanGrace ?? Duration.minutes(10);
    validate(interval, maxConcurrency, orphanGrace);
    this.#metricsNamespace = props.metricsNamespace;

    const { handler, role } = tributaryFunction(this, 'Function', {
      description: 'Tributary maintenance: one step of a pass per invocation',
      entry: maintenanceEntry,
      // A step waits on DynamoDB and S3 for most of its time; memory buys little.
      memorySize: 512,
      // A step is bounded (500 index entries, 1,000 chunks, 10 listing pages); this is slack.
      timeout: Duration.minutes(5),
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      environment: {
        TRIBUTARY_STORE: 'aws',
        TRIBUTARY_TABLE: props.table.tableName,
        TRIBUTARY_BUCKET: props.bucket.bucketName,
        TRIBUTARY_ORPHAN_GRACE_MS: String(orphanGrace.toMilliseconds()),
        TRIBUTARY_LOG_LEVEL: props.logLevel,
        POWERTOOLS_SERVICE_NAME: metricsService,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
      },
    });
    this.handler = handler;
    props.table.grantReadWriteData(this.handler);
    // Listing finds orphans and a purged topic's chunks; DeleteObjects checks s3:DeleteObject
    // per key. It writes and reads no object: only this function may delete one.
    this.handler.addToRolePolicy(
      new PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.bucket.bucketArn] }),
    );
    this.handler.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:DeleteObject'],
        resources: [props.bucket.arnForObjects('*')],
      }),
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.bucket)}.Arn>/*]`,
      reason:
        'Chunks have unique keys made at produce time, and maintenance deletes those retention expired, orphaned or purged, so the keys cannot be named in advance; the wildcard covers the objects of this one bucket, for s3:DeleteObject only.',
    });

    this.stateMachine = new StateMachine(this, 'StateMachine', {
      comment: 'Tributary maintenance: retention, orphan sweep, topic purge',
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(this.#definition(maxConcurrency)),
      timeout: executionTimeout,
    });
    // Handing over starts an execution of this same machine. A policy of its own: the
    // machine's default policy must exist before the machine, which this one names.
    new Policy(this, 'HandOverPolicy', {
      roles: [this.stateMachine.role],
      statements: [
        new PolicyStatement({
          actions: ['states:StartExecution'],
          resources: [this.stateMachine.stateMachineArn],
        }),
      ],
    });
    Validations.of(this.stateMachine.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(this.handler)}.Arn>:*]`,
      reason:
        "The state machine's Lambda tasks may invoke the maintenance function; CDK's grant names the function and its versions and aliases (`:*`), of this one function only.",
    });
    Validations.of(this.stateMachine).acknowledge(
      {
        id: 'AwsSolutions-SF1',
        reason:
          'A Standard workflow keeps every execution event for 90 days (console, GetExecutionHistory), and the maintenance function logs each step; logging ALL events to CloudWatch as well would pay to store the same events twice, and needs logs permissions on every resource.',
      },
      {
        id: 'AwsSolutions-SF2',
        reason:
          'The workflow calls one Lambda function whose steps are timed in the execution history and logged; X-Ray tracing would add a cost per execution and xray permissions on every resource for no view the history does not give.',
      },
    );

    this.schedule = new Rule(this, 'Schedule', {
      description: 'Starts a Tributary maintenance pass',
      schedule: Schedule.rate(interval),
      // The scheduled event itself is of no use to the pass.
      targets: [new SfnStateMachine(this.stateMachine, { input: RuleTargetInput.fromObject({}) })],
    });

    const alarmPeriod = Duration.minutes(5);
    const sum = { statistic: 'Sum', period: alarmPeriod };
    this.executionsFailed = new MathExpression({
      expression: 'failed + timedOut',
      usingMetrics: {
        failed: this.stateMachine.metricFailed(sum),
        timedOut: this.stateMachine.metricTimedOut(sum),
      },
      label: 'failed or timed out',
      period: alarmPeriod,
    }).createAlarm(this, 'ExecutionsFailed', {
      alarmDescription:
        'Tributary: a maintenance execution failed or timed out. The next one resumes its pass; see the execution in the Step Functions console and the maintenance function log.',
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.passFailures = this.#metric('MaintenanceFailures', 'failed items', sum).createAlarm(
      this,
      'PassFailures',
      {
        alarmDescription:
          "Tributary: a maintenance pass finished with work items that kept failing (retried by the next pass). The execution's report lists the first errors; see the maintenance function log.",
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      },
    );
  }

  /** Lets `grantee` start executions of the state machine and read those executions only. */
  grantRun(grantee: IGrantable): Grant {
    const executions = Stack.of(this).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${this.stateMachine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    return Grant.addToPrincipal({
      grantee,
      actions: ['states:StartExecution'],
      resourceArns: [this.stateMachine.stateMachineArn],
    }).combine(
      Grant.addToPrincipal({
        grantee,
        actions: ['states:DescribeExecution'],
        resourceArns: [executions],
      }),
    );
  }

  /** The alarms, for the dashboard's status row and the alarm actions. */
  get alarms(): Alarm[] {
    return [this.executionsFailed, this.passFailures];
  }

  /**
   * A dashboard row: executions, what passes freed and deleted, how far behind retention
   * partitions were, how long passes took. Passes come once an interval, so hourly sums.
   */
  widgets(): IWidget[] {
    const hourly = { period: Duration.hours(1) };
    const sum = { ...hourly, statistic: 'Sum' };
    const machine = this.stateMachine;
    const graph = (title: string, left: IMetric[], right: IMetric[] = []): GraphWidget =>
      new GraphWidget({ title, left, right, width: 8, height: 6, leftYAxis: { min: 0 } });
    return [
      graph(
        'Maintenance executions',
        [
          machine.metricStarted({ ...sum, label: 'started' }),
          machine.metricSucceeded({ ...sum, label: 'succeeded' }),
        ],
        [
          machine.metricFailed({ ...sum, label: 'failed' }),
          machine.metricTimedOut({ ...sum, label: 'timed out' }),
          this.#metric('MaintenanceFailures', 'failed items', sum),
        ],
      ),
      graph(
        'Maintenance: storage freed, bytes',
        [this.#metric('MaintenanceBytesFreed', 'bytes freed', sum)],
        [this.#metric('MaintenancePartitionsBehindRetention', 'partitions behind retention', sum)],
      ),
      graph('Maintenance: deleted', [
        this.#metric('MaintenanceChunksDeleted', 'chunks', sum),
        this.#metric('MaintenanceIndexEntriesDeleted', 'index entries', sum),
        this.#metric('MaintenanceOrphansDeleted', 'orphans', sum),
        this.#metric('MaintenanceTopicsPurged', 'topics purged', sum),
      ]),
      graph('Maintenance pass duration, ms', [
        this.#metric('MaintenancePassDurationMs', 'max', { ...hourly, statistic: 'Maximum' }),
        this.#metric('MaintenancePassDurationMs', 'average', { ...hourly, statistic: 'Average' }),
      ]),
    ];
  }

  /** One of the maintenance metrics the `finish` step publishes (functions/http/metrics.ts). */
  #metric(metricName: string, label: string, options: MetricOptions): Metric {
    return new Metric({
      namespace: this.#metricsNamespace,
      metricName,
      dimensionsMap: { service: metricsService },
      ...options,
      label,
    });
  }

  /** The definition drawn in the class comment; states named after the steps they run. */
  #definition(maxConcurrency: number) {
    /** A Lambda task running `step`: Resource the function's ARN, Parameters the event. */
    const task = (
      name: string,
      step: StepName,
      input: Record<string, unknown> | string,
      options: Partial<LambdaInvokeProps> = {},
    ) =>
      new LambdaInvoke(this, name, {
        lambdaFunction: this.handler,
        payloadResponseOnly: true,
        payload: TaskInput.fromObject({ step, input }),
        ...options,
      }).addRetry(stepRetry);

    const begin = task(
      'Begin',
      'begin',
      {},
      { resultSelector: { passId: JsonPath.stringAt('$.passId'), results: [], ran: 0 } },
    );
    const plan = task(
      'Plan',
      'plan',
      { passId: JsonPath.stringAt('$.passId'), results: JsonPath.listAt('$.results') },
      {
        resultSelector: { items: JsonPath.listAt('$.items'), done: JsonPath.stringAt('$.done') },
        resultPath: '$.page',
      },
    );

    // Items run so far in this execution, with and without this page.
    const count = new Pass(this, 'Count', {
      parameters: {
        passId: JsonPath.stringAt('$.passId'),
        page: JsonPath.objectAt('$.page'),
        before: JsonPath.numberAt('$.ran'),
        ran: JsonPath.mathAdd(
          JsonPath.numberAt('$.ran'),
          Token.asNumber(JsonPath.arrayLength(JsonPath.listAt('$.page.items'))),
        ),
      },
    });

    const work = task('Work', 'work', JsonPath.entirePayload);
    const failed = task('Failed', 'failed', {
      state: JsonPath.entirePayload,
      error: JsonPath.objectAt('$.error'),
    });
    // A step that still throws after its retries: the item is reported failed, the pass goes on.
    work.addCatch(failed, { errors: [Errors.ALL], resultPath: '$.error' });
    const item = work.next(
      new Choice(this, 'More?')
        .when(
          Condition.and(
            Condition.booleanEquals('$.more', true),
            Condition.numberLessThan('$.steps', stepsPerItem),
          ),
          work,
        )
        .otherwise(new Succeed(this, 'Item done')),
    );
    const workOnPage = new MapState(this, 'Work on page', {
      itemsPath: '$.page.items',
      itemSelector: { item: JsonPath.stringAt('$$.Map.Item.Value') },
      maxConcurrency,
      resultPath: '$.results',
    }).itemProcessor(item);

    // Continue as new: the page goes to a fresh execution, with a fresh history.
    const handOver = new CustomState(this, 'Hand over', {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Stack.of(this).partition}:states:::states:startExecution`,
        Parameters: {
          'StateMachineArn.$': '$$.StateMachine.Id',
          // Named after this execution, so a retried start cannot start a second one.
          'Name.$': "States.Hash($$.Execution.Id, 'SHA-1')",
          Input: {
            'passId.$': '$.passId',
            'page.$': '$.page',
            'ran.$': 'States.ArrayLength($.page.items)',
            'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id',
          },
        },
        ResultSelector: { 'continuedAs.$': '$.ExecutionArn' },
      },
    }).addRetry(stepRetry);

    const finish = task('Finish', 'finish', { passId: JsonPath.stringAt('$.passId') });

    plan.next(count).next(
      new Choice(this, 'Next?')
        .when(Condition.booleanEquals('$.page.done', true), finish)
        .when(
          Condition.and(
            Condition.numberGreaterThan('$.before', 0),
            Condition.numberGreaterThan('$.ran', itemsPerExecution),
          ),
          handOver,
        )
        .otherwise(workOnPage),
    );
    workOnPage.next(plan);
    return new Choice(this, 'Handed a page?')
      .when(Condition.isPresent('$.page'), workOnPage)
      .otherwise(begin.next(plan));
  }
}

/** Refuses at synth what would only fail once deployed. */
function validate(interval: Duration, maxConcurrency: number, orphanGrace: Duration): void {
  if (!interval.isUnresolved() && interval.toMinutes({ integral: false }) < 1) {
    throw new Error(
      `maintenance interval must be at least a minute (EventBridge's finest rate); got ${interval.toHumanString()}`,
    );
  }
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > 40) {
    throw new Error(
      `maintenance maxConcurrency must be an integer from 1 to 40 (an inline Map's limit); got ${maxConcurrency}`,
    );
  }
  // functions/config.ts refuses less at cold start; refuse it at synth instead.
  const min = Duration.millis(minOrphanGraceMs);
  if (!orphanGrace.isUnresolved() && orphanGrace.toMilliseconds() < min.toMilliseconds()) {
    throw new Error(
      `maintenance orphanGrace must be at least ${min.toHumanString()}; got ${orphanGrace.toHumanString()}`,
    );
  }
}
