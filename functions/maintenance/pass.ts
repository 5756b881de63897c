import type { CoreContext } from '../core/context.ts';
import { deletedTopicsPk, headKey, maintKey, passKey, startKey, topicsPk } from '../core/keys.ts';
import { headFromItem, type PartitionHead, startFromItem } from '../core/log/partition-items.ts';
import { maintFromItem, type PartitionMaint, storedBytes } from '../core/log/partition-maint.ts';
import { isExpired } from '../core/log/retention.ts';
import {
  expectAbsent,
  expectVersion,
  type JsonObject,
  lostRace,
  type StoredItem,
} from '../core/ports/metadata-store.ts';
import { type Topic, topicFromItem } from '../core/topics/topic.ts';
import {
  addCounts,
  countsFromJson,
  countsToJson,
  type MaintenanceCounts,
  type MaintenanceReport,
  noCounts,
} from './report.ts';
import type { MaintenanceSettings } from './settings.ts';
import { describeItem, type WorkItem, type WorkState } from './work.ts';

/**
 * A maintenance pass goes through every partition of every topic (retention), then every
 * topic (releasing chunks, the orphan sweep), then every deleted topic (the purge), a page
 * of work items at a time. Where it has got to is one item, `pk maintenance, sk pass`:
 *
 *   passId, startedAt, finishedAt?   which pass, and whether it is over
 *   stage, after                      the next page starts after this point of this stage
 *   totals, errors                    what its pages did so far
 *
 * Claiming a page is a conditional write of that item, so executions that overlap share
 * the pass (each claims different pages) and one that fails or times out leaves the cursor
 * for the next to resume from. A page claimed by an execution that then died is simply
 * done again by the next pass: every work step is idempotent.
 */

type Stage = 'partitions' | 'topics' | 'purges' | 'done';

interface Pass {
  readonly passId: string;
  readonly startedAt: number;
  readonly finishedAt: number | undefined;
  readonly stage: Stage;
  /** Partitions: "<topic>\u0000<partition>"; sweeps: a topic name; purges: a topic id. */
  readonly after: string;
  readonly totals: MaintenanceCounts;
  readonly errors: readonly { readonly item: string; readonly error: string }[];
  readonly version: number;
}

/** Errors a pass keeps for its report (they are also counted, and logged by the step). */
const maxErrors = 20;
/** Partitions whose state one plan step reads, looking for those with work. */
const partitionsScannedPerPlan = 1_000;
const topicsPerQuery = 50;

const stages: readonly Stage[] = ['partitions', 'topics', 'purges', 'done'];

function passFrom(item: StoredItem | undefined): Pass | undefined {
  if (!item || typeof item.data.passId !== 'string') return undefined;
  const stage = stages.find((s) => s === item.data.stage) ?? 'done';
  const errors = Array.isArray(item.data.errors) ? item.data.errors : [];
  return {
    passId: item.data.passId,
    startedAt: Number(item.data.startedAt ?? 0),
    finishedAt: typeof item.data.finishedAt === 'number' ? item.data.finishedAt : undefined,
    stage,
    after: typeof item.data.after === 'string' ? item.data.after : '',
    totals: countsFromJson(item.data.totals),
    errors: errors.flatMap((e) =>
      e && typeof e === 'object' && !Array.isArray(e)
        ? [{ item: String(e.item), error: String(e.error) }]
        : [],
    ),
    version: item.version,
  };
}

function passData(pass: Omit<Pass, 'version'>): JsonObject {
  return {
    passId: pass.passId,
    startedAt: pass.startedAt,
    ...(pass.finishedAt !== undefined && { finishedAt: pass.finishedAt }),
    stage: pass.stage,
    after: pass.after,
    totals: countsToJson(pass.totals),
    errors: pass.errors.map((e) => ({ item: e.item, error: e.error })),
  };
}

/** Writes the pass item as read plus changes; false when another execution wrote first. */
async function savePass(
  ctx: CoreContext,
  read: Pass | undefined,
  next: Omit<Pass, 'version'>,
): Promise<boolean> {
  try {
    await ctx.metadata.transact([
      {
        type: 'put',
        key: passKey,
        data: passData(next),
        expect: read ? expectVersion(read.version) : expectAbsent,
      },
    ]);
    return true;
  } catch (error: unknown) {
    if (await lostRace(error)) return false;
    throw error;
  }
}

/** Joins the pass under way (resuming one an earlier execution left), or starts a new one. */
export async function beginPass(ctx: CoreContext): Promise<{ passId: string }> {
  for (;;) {
    const item = await ctx.metadata.get(passKey);
    const current = passFrom(item);
    if (current && current.finishedAt === undefined) return { passId: current.passId };
    const passId = ctx.newId();
    const started = await savePass(
      ctx,
      item && { ...(current ?? emptyPass), version: item.version },
      {
        passId,
        startedAt: ctx.now(),
        finishedAt: undefined,
        stage: 'partitions',
        after: '',
        totals: noCounts(),
        errors: [],
      },
    );
    if (started) return { passId };
  }
}

const emptyPass: Pass = {
  passId: '',
  startedAt: 0,
  finishedAt: undefined,
  stage: 'done',
  after: '',
  totals: noCounts(),
  errors: [],
  version: 0,
};

export interface PlanInput {
  readonly passId: string;
  /** What the previous page's items did, to add to the pass's totals. */
  readonly results?: readonly WorkState[];
}

export interface Page {
  readonly passId: string;
  readonly items: WorkItem[];
  /** The pass has nothing left to hand out. */
  readonly done: boolean;
}

/**
 * Adds the previous page's results to the pass and claims the next page of work. Partitions
 * with nothing to do (nothing expired, nothing left to delete) are skipped here, for the
 * price of reading their head, start and cursor, so an idle deployment's pass is cheap.
 */
export async function planPage(
  ctx: CoreContext,
  settings: MaintenanceSettings,
  input: PlanInput,
): Promise<Page> {
  for (;;) {
    const item = await ctx.metadata.get(passKey);
    const pass = passFrom(item);
    // A newer pass replaced this one: its results belong to a pass already reported.
    if (!pass || pass.passId !== input.passId)
      return { passId: input.passId, items: [], done: true };
    let totals = pass.totals;
    const errors = [...pass.errors];
    for (const result of input.results ?? []) {
      totals = addCounts(totals, countsFromJson(result.counts));
      if (result.failed) {
        totals = addCounts(totals, { failures: 1 });
        if (errors.length < maxErrors) {
          errors.push({ item: describeItem(result.item), error: result.failed.error });
        }
      }
    }
    const page = await nextPage(ctx, settings, pass.stage, pass.after);
    totals = addCounts(totals, page.counts);
    const claimed = await savePass(ctx, pass, {
      ...pass,
      stage: page.stage,
      after: page.after,
      totals,
      errors,
    });
    if (claimed) {
      return { passId: pass.passId, items: page.items, done: page.items.length === 0 };
    }
  }
}

interface NextPage {
  readonly items: WorkItem[];
  readonly stage: Stage;
  readonly after: string;
  /** What planning itself found: partitions visited and behind, topics swept. */
  readonly counts: Partial<MaintenanceCounts>;
}

async function nextPage(
  ctx: CoreContext,
  settings: MaintenanceSettings,
  stage: Stage,
  after: string,
): Promise<NextPage> {
  let at = { stage, after };
  // Empty stages are passed through in one plan step.
  for (;;) {
    const page =
      at.stage === 'partitions'
        ? await partitionPage(ctx, settings, at.after)
        : at.stage === 'topics'
          ? await topicPage(ctx, settings, at.after)
          : at.stage === 'purges'
            ? await purgePage(ctx, settings, at.after)
            : { items: [], stage: 'done' as const, after: '', counts: {} };
    if (page.items.length > 0 || page.stage === 'done' || page.stage === at.stage) return page;
    at = page;
  }
}

const nextStage = (stage: Stage): Stage => stages[stages.indexOf(stage) + 1] ?? 'done';

/**
 * Partitions with retention work, in topic then partition order, after `after`; at most a
 * page of them, looking at a bounded number of partitions.
 */
async function partitionPage(
  ctx: CoreContext,
  settings: MaintenanceSettings,
  after: string,
): Promise<NextPage> {
  const [afterTopic = '', afterPartition = '-1'] = after.split('\u0000');
  const candidates: { topic: Topic; partition: number }[] = [];
  let exhausted = false;
  // The topic the cursor is inside comes first, from its next partition.
  let from = afterTopic;
  let inclusive = true;
  while (candidates.length < partitionsScannedPerPlan) {
    const items = await ctx.metadata.query(topicsPk, {
      ...(from && { from: inclusive ? from : `${from}\u0000` }),
      limit: topicsPerQuery,
    });
    for (const item of items) {
      const topic = topicFromItem(item);
      if (!topic) continue;
      const first = topic.name === afterTopic ? Number(afterPartition) + 1 : 0;
      for (let p = first; p < topic.partitions; p++) candidates.push({ topic, partition: p });
    }
    const last = items.at(-1);
    if (items.length < topicsPerQuery || !last) {
      exhausted = true;
      break;
    }
    from = last.sk;
    inclusive = false;
  }
  const scanned = candidates.slice(0, partitionsScannedPerPlan);
  if (scanned.length < candidates.length) exhausted = false;
  const states = await ctx.metadata.getMany(
    scanned.flatMap(({ topic, partition }) => [
      headKey(topic.id, partition),
      startKey(topic.id, partition),
      maintKey(topic.id, partition),
    ]),
  );
  const items: WorkItem[] = [];
  let behind = 0;
  let cursor = after;
  const now = ctx.now();
  for (const [i, { topic, partition }] of scanned.entries()) {
    if (items.length === settings.pageSize) {
      exhausted = false;
      break;
    }
    cursor = `${topic.name}\u0000${partition}`;
    const head = headFromItem(states[3 * i]);
    const start = startFromItem(states[3 * i + 1]);
    const maint = maintFromItem(states[3 * i + 2]);
    // Retention facts not yet known (never looked at), or the first retained batch expired.
    const expiring =
      start.logStartOffset < head.nextOffset &&
      (start.first === null || isExpired(start.first, head, topic.config, now));
    // Entries below the log start are still stored.
    const isBehind = start.logStartOffset > maint.cleanedTo;
    const rewrite = rewriteWork(topic, head, start.logStartOffset, maint, now);
    if (!expiring && !isBehind && !rewrite) continue;
    if (isBehind || (expiring && start.first !== null)) behind++;
    items.push({
      kind: 'partition',
      topic: topic.name,
      topicId: topic.id,
      partition,
      phase: expiring || isBehind ? 'retention' : (rewrite ?? 'merge'),
    });
  }
  const counts = { partitionsVisited: items.length, partitionsBehindRetention: behind };
  return exhausted
    ? { items, stage: nextStage('partitions'), after: '', counts }
    : { items, stage: 'partitions', after: cursor, counts };
}

/**
 * Whether a partition has compaction or merge work, as far as its head and state tell: a
 * compaction round under way, or one due (the dirty share of the log reached
 * min.cleanable.dirty.ratio, a tombstone's horizon passed, or a bound on the compaction lag
 * may have been reached); batches not yet merged.
 */
function rewriteWork(
  topic: Topic,
  head: PartitionHead,
  logStart: number,
  maint: PartitionMaint,
  now: number,
): 'compaction' | 'merge' | undefined {
  const config = topic.config;
  if (config.cleanupPolicy !== 'delete') {
    const dirty = head.nextOffset > Math.max(maint.compactedTo, logStart);
    const stored = storedBytes(head.nextPosition, maint);
    const dirtyBytes = head.nextPosition - maint.dirtyPosition;
    if (
      maint.round !== undefined ||
      (dirty &&
        (dirtyBytes >= config.minCleanableDirtyRatio * stored ||
          config.maxCompactionLagMs < Number.POSITIVE_INFINITY)) ||
      (maint.nextHorizon !== undefined && maint.nextHorizon <= now)
    ) {
      return 'compaction';
    }
  }
  return head.nextOffset > Math.max(maint.mergedTo, logStart) ? 'merge' : undefined;
}

/** A topic item for each live topic after `after`, a page at a time. */
async function topicPage(
  ctx: CoreContext,
  settings: MaintenanceSettings,
  after: string,
): Promise<NextPage> {
  const items = await ctx.metadata.query(topicsPk, {
    ...(after && { from: `${after}\u0000` }),
    limit: settings.pageSize,
  });
  const work: WorkItem[] = items.flatMap((item) => {
    const topic = topicFromItem(item);
    return topic
      ? [{ kind: 'topic' as const, topic: topic.name, topicId: topic.id, phase: 'chunks' as const }]
      : [];
  });
  const last = items.at(-1)?.sk ?? after;
  const more = items.length === settings.pageSize;
  return {
    items: work,
    stage: more ? 'topics' : nextStage('topics'),
    after: more ? last : '',
    counts: { topicsSwept: work.length },
  };
}

/** A purge item for each deleted topic whose data is still to be removed. */
async function purgePage(
  ctx: CoreContext,
  settings: MaintenanceSettings,
  after: string,
): Promise<NextPage> {
  const items = await ctx.metadata.query(deletedTopicsPk, {
    ...(after && { from: `${after}\u0000` }),
    limit: settings.pageSize,
  });
  const more = items.length === settings.pageSize;
  return {
    items: items.map((item) => ({ kind: 'purge' as const, topicId: item.sk })),
    stage: more ? 'purges' : nextStage('purges'),
    after: more ? (items.at(-1)?.sk ?? after) : '',
    counts: {},
  };
}

/**
 * Marks the pass finished and reports it. Overlapping executions all get here; `first` tells
 * the one whose write finished it, which alone publishes its metrics.
 */
export async function finishPass(
  ctx: CoreContext,
  input: { readonly passId: string },
): Promise<{ report: MaintenanceReport; first: boolean }> {
  for (;;) {
    const pass = passFrom(await ctx.metadata.get(passKey));
    if (!pass || pass.passId !== input.passId) {
      return { report: { passId: input.passId, startedAt: 0, ...noCounts() }, first: false };
    }
    if (pass.finishedAt !== undefined) return { report: reportOf(pass), first: false };
    const finishedAt = ctx.now();
    if (await savePass(ctx, pass, { ...pass, finishedAt })) {
      return { report: reportOf({ ...pass, finishedAt }), first: true };
    }
  }
}

/** The pass as the API reports it, finished or not. */
export async function lastPass(ctx: CoreContext): Promise<MaintenanceReport | undefined> {
  const pass = passFrom(await ctx.metadata.get(passKey));
  return pass && reportOf(pass);
}

function reportOf(pass: Pass): MaintenanceReport {
  return {
    passId: pass.passId,
    startedAt: pass.startedAt,
    ...(pass.finishedAt !== undefined && {
      finishedAt: pass.finishedAt,
      durationMs: pass.finishedAt - pass.startedAt,
    }),
    ...pass.totals,
    ...(pass.errors.length > 0 && { errors: pass.errors.map((e) => ({ ...e })) }),
  };
}
