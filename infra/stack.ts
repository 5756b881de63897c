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
    new CfnOutput(this, 'TableName', { value: this.tributary.table.tableName });
    new CfnOutput(this, 'BucketName', { value: this.tributary.bucket.bucketName });
  }
}
