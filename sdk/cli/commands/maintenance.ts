import type { MaintenanceRun } from '../../src/index.ts';
import { type Command, outputOption } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';
import { isoTime, jsonOutput, print, printJson, table } from '../output.ts';

function runText(run: MaintenanceRun): string {
  const stopped = run.stoppedAt === undefined ? '' : `  stopped: ${isoTime(run.stoppedAt)}`;
  const head = `Run: ${run.id}  status: ${run.status}  started: ${isoTime(run.startedAt)}${stopped}\n`;
  const report = run.report;
  if (!report) return head;
  const rows: [string, number | undefined][] = [
    ['partitions visited', report.partitionsVisited],
    ['partitions behind retention', report.partitionsBehindRetention],
    ['index entries deleted', report.indexEntriesDeleted],
    ['chunks deleted', report.chunksDeleted],
    ['bytes freed', report.bytesFreed],
    ['topics swept', report.topicsSwept],
    ['orphan chunks deleted', report.orphansDeleted],
    ['orphan bytes freed', report.orphanBytesFreed],
    ['topics purged', report.topicsPurged],
    ['items purged', report.purgedItems],
    ['chunks purged', report.purgedChunks],
    ['failures', report.failures],
    ['duration ms', report.durationMs],
  ];
  const errors = (report.errors ?? []).map((e) => `  ${e.item}: ${e.error}\n`).join('');
  return `${head}${table(rows.map(([name, value]) => [name, String(value ?? '-')]))}${errors && `Errors:\n${errors}`}`;
}

const run: Command = {
  words: ['maintenance', 'run'],
  args: [],
  summary: 'run a maintenance pass now',
  description:
    'Runs the maintenance workflow once: retention that frees storage, chunks released and orphans swept, deleted topics purged. A local server answers when the pass is done, with its report; a deployed stack starts an execution and prints its id, or with --wait waits for it and prints the report. Needs ALTER on the cluster. Exits 1 when a waited-for run did not succeed.',
  options: {
    wait: { type: 'boolean', help: 'on a deployed stack, wait until the run ends' },
    ...outputOption,
  },
  examples: ['tributary maintenance run', 'tributary maintenance run --wait --output json'],
  interruptible: true,
  async run({ flags, client, signal }) {
    const json = jsonOutput(flags);
    const result = await client().admin.maintenance.run({ wait: flags.boolean('wait'), signal });
    await (json ? printJson(result) : print(runText(result)));
    return result.status === 'SUCCEEDED' || result.status === 'RUNNING'
      ? exitCodes.ok
      : exitCodes.failed;
  },
};

const describe: Command = {
  words: ['maintenance', 'describe'],
  args: ['<id>'],
  summary: 'show a maintenance run',
  description:
    "Prints a run's status and, once it succeeded, its report. MAINTENANCE_RUN_NOT_FOUND exits 3.",
  options: { ...outputOption },
  examples: [
    'tributary maintenance describe 3f2c…',
    'tributary maintenance describe 3f2c… --output json',
  ],
  async run({ args, flags, client }) {
    const json = jsonOutput(flags);
    const result = await client().admin.maintenance.describe(args[0] ?? '');
    await (json ? printJson(result) : print(runText(result)));
    return exitCodes.ok;
  },
};

export const maintenanceCommands: readonly Command[] = [run, describe];
