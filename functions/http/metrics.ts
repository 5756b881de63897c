/**
 * Counters the deployment graphs and alarms on (CloudWatch, namespace set by the stack).
 * Locally they go nowhere. Dimensions are few on purpose: each combination is a custom
 * metric, billed only in months it is published.
 */
export type MetricName =
  | 'Requests'
  | 'ClientErrors'
  | 'ServerErrors'
  | 'Errors'
  | 'Records'
  | 'Bytes'
  | 'CommitConflicts'
  | 'CommitRetries'
  // What each maintenance pass did (functions/maintenance).
  | 'MaintenanceBytesFreed'
  | 'MaintenanceChunksDeleted'
  | 'MaintenanceIndexEntriesDeleted'
  | 'MaintenanceOrphansDeleted'
  | 'MaintenanceTopicsPurged'
  | 'MaintenancePartitionsBehindRetention'
  | 'MaintenanceFailures'
  | 'MaintenancePassDurationMs';

export interface Metrics {
  count(name: MetricName, value?: number, dimensions?: Readonly<Record<string, string>>): void;
}

export const noMetrics: Metrics = { count: () => {} };
