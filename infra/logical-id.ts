import { CfnResource, Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/** A resource's logical id as cdk-nag prints it in a finding, e.g. `<SegmentsA1B2C3D4.Arn>`. */
export function logicalIdOf(construct: Construct): string {
  const resource = construct.node.defaultChild;
  if (!CfnResource.isCfnResource(resource)) {
    throw new Error(`${construct.node.path} has no CloudFormation resource`);
  }
  return Stack.of(construct).getLogicalId(resource);
}
