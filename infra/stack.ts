import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Tributary, type TributaryProps } from './tributary.ts';

export interface TributaryStackProps extends StackProps {
  readonly tributary?: TributaryProps;
}

/** The deployable unit: the Tributary construct and the outputs a user needs to reach it. */
export class TributaryStack extends Stack {
  readonly tributary: Tributary;

  constructor(scope: Construct, id: string, props: TributaryStackProps = {}) {
    super(scope, id, props);
    this.tributary = new Tributary(this, 'Tributary', props.tributary);
    new CfnOutput(this, 'ApiUrl', {
      value: this.tributary.url,
      description: 'Base URL of the Tributary API, e.g. curl <ApiUrl>v1/health',
    });
    const { adminKey } = this.tributary;
    if (adminKey) {
      new CfnOutput(this, 'AdminKeySecretName', {
        value: adminKey.secretName,
        description:
          'The admin API key: aws secretsmanager get-secret-value --secret-id <AdminKeySecretName> --query SecretString --output text',
      });
      new CfnOutput(this, 'AdminKeySecretArn', { value: adminKey.secretArn });
    }
    new CfnOutput(this, 'DashboardUrl', { value: this.tributary.monitoring.dashboardUrl });
    new CfnOutput(this, 'FunctionName', { value: this.tributary.handler.functionName });
    new CfnOutput(this, 'TableName', { value: this.tributary.table.tableName });
    new CfnOutput(this, 'BucketName', { value: this.tributary.bucket.bucketName });
    new CfnOutput(this, 'MaintenanceStateMachineArn', {
      value: this.tributary.maintenance.stateMachine.stateMachineArn,
      description:
        'The maintenance workflow: aws stepfunctions list-executions --state-machine-arn <MaintenanceStateMachineArn>',
    });
  }
}
