import { maxCommitDelayMs } from '../core/log/produce.ts';

/**
 * How far two writers' clocks may disagree. Lambda's clocks are kept by NTP to well under
 * a second; this leaves room for a laptop and a server sharing one store.
 */
export const clockSkewMs = 15_000;

/**
 * How long after its chunk was named an index entry referring to it can still appear: a
 * commit attempt starts at most {@link maxCommitDelayMs} after (produce.ts refuses later
 * ones), and one attempt's write is in flight for at most 30 s more (the API function's
 * timeout; the local store client's request timeout and retries).
 */
export const commitWindowMs = maxCommitDelayMs + 30_000;

/** The shortest orphan grace that keeps the sweep safe: a commit window plus skew both ways. */
export const minOrphanGraceMs = commitWindowMs + 2 * clockSkewMs + 60_000;

export interface MaintenanceSettings {
  /**
   * A chunk no index entry refers to is deleted once it is this old (by the time in its
   * key): longer than any commit can take, so a commit still under way is never robbed.
   */
  readonly orphanGraceMs: number;
  /** Work items per page of a pass: what one Map state runs. */
  readonly pageSize: number;
  /** Work items run at once within a page. */
  readonly concurrency: number;
}

export const defaultMaintenanceSettings: MaintenanceSettings = {
  orphanGraceMs: 10 * 60_000,
  pageSize: 100,
  concurrency: 4,
};
