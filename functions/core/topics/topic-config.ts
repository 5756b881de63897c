import { closest } from '../../../sdk/src/closest.ts';
import { TributaryError } from '../errors.ts';
import type { JsonObject, JsonValue } from '../ports/metadata-store.ts';

/** A topic's effective configuration, typed. Stored and shown as Kafka's string values. */
export interface TopicConfig {
  /** -1: keep forever. */
  readonly retentionMs: number;
  /** -1: no size limit. */
  readonly retentionBytes: number;
  readonly cleanupPolicy: 'delete' | 'compact' | 'compact,delete';
  readonly maxMessageBytes: number;
  readonly timestampType: 'CreateTime' | 'LogAppendTime';
  /** Compaction starts once the uncompacted bytes reach this share of the log. */
  readonly minCleanableDirtyRatio: number;
  /** A record stays uncompacted at least this long. */
  readonly minCompactionLagMs: number;
  /** A record is compacted within this long whatever the ratio; Infinity: no bound. */
  readonly maxCompactionLagMs: number;
  /** Tombstones stay this long after compaction first passes them. */
  readonly deleteRetentionMs: number;
}

/** Kafka's Long.MAX_VALUE default for max.compaction.lag.ms: no bound. */
const unbounded = '9223372036854775807';

/**
 * The largest record a topic may accept. A fetch response must fit Lambda's 6 MB payload
 * even when the record is rendered as base64 (4/3 of its size), so 4 MiB is the ceiling.
 */
export const maxMessageBytesCeiling = 4 * 1024 * 1024;

type ConfigName =
  | 'retention.ms'
  | 'retention.bytes'
  | 'cleanup.policy'
  | 'max.message.bytes'
  | 'message.timestamp.type'
  | 'min.cleanable.dirty.ratio'
  | 'min.compaction.lag.ms'
  | 'max.compaction.lag.ms'
  | 'delete.retention.ms';

interface ConfigSpec {
  /** Kafka's default, as a string. */
  readonly default: string;
  /** The canonical string, or undefined when the value is invalid. */
  readonly parse: (raw: string) => string | undefined;
  readonly rule: string;
}

const integerIn =
  (min: number, max: number) =>
  (raw: string): string | undefined => {
    if (!/^-?\d+$/.test(raw)) return undefined;
    const n = Number(raw);
    return Number.isSafeInteger(n) && n >= min && n <= max ? String(n) : undefined;
  };

const oneOf =
  (allowed: readonly string[]) =>
  (raw: string): string | undefined =>
    allowed.includes(raw) ? raw : undefined;

const specs: Record<ConfigName, ConfigSpec> = {
  'retention.ms': {
    default: '604800000',
    parse: integerIn(-1, Number.MAX_SAFE_INTEGER),
    rule: 'an integer >= -1 (-1 keeps records forever)',
  },
  'retention.bytes': {
    default: '-1',
    parse: integerIn(-1, Number.MAX_SAFE_INTEGER),
    rule: 'an integer >= -1 (-1 means no size limit)',
  },
  'cleanup.policy': {
    default: 'delete',
    parse: (raw) => {
      const parts = [...new Set(raw.split(',').map((p) => p.trim()))].sort();
      const canonical = parts.join(',');
      return oneOf(['delete', 'compact', 'compact,delete'])(canonical);
    },
    rule: "'delete', 'compact' or 'compact,delete'",
  },
  'max.message.bytes': {
    default: '1048576',
    parse: integerIn(1, maxMessageBytesCeiling),
    rule: `an integer from 1 to ${maxMessageBytesCeiling}`,
  },
  'message.timestamp.type': {
    default: 'CreateTime',
    parse: oneOf(['CreateTime', 'LogAppendTime']),
    rule: "'CreateTime' or 'LogAppendTime'",
  },
  'min.cleanable.dirty.ratio': {
    default: '0.5',
    parse: (raw) => {
      if (!/^(0|1|0?\.\d+|1\.0*)$/.test(raw)) return undefined;
      const n = Number(raw);
      // As written (JavaScript would show 0.0000001 as 1e-7), with its leading 0.
      return n >= 0 && n <= 1 ? raw.replace(/^\./, '0.') : undefined;
    },
    rule: 'a number from 0 to 1',
  },
  'min.compaction.lag.ms': {
    default: '0',
    parse: integerIn(0, Number.MAX_SAFE_INTEGER),
    rule: 'an integer >= 0',
  },
  'max.compaction.lag.ms': {
    default: unbounded,
    parse: (raw) => (raw === unbounded ? raw : integerIn(1, Number.MAX_SAFE_INTEGER)(raw)),
    rule: `an integer >= 1 (${unbounded}: no bound)`,
  },
  'delete.retention.ms': {
    default: '86400000',
    parse: integerIn(0, Number.MAX_SAFE_INTEGER),
    rule: 'an integer >= 0',
  },
};

export const configNames = Object.keys(specs) as ConfigName[];

const isConfigName = (name: string): name is ConfigName => Object.hasOwn(specs, name);

/**
 * Validates config overrides from a request (values as strings, as Kafka takes them, or
 * numbers for convenience) and returns them in canonical string form.
 */
export function parseConfigOverrides(input: Record<string, unknown>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(input)) {
    result[name] = parseConfigValue(name, value);
  }
  assertConsistent(result);
  return result;
}

/** Configs that contradict each other, as Kafka refuses them. */
function assertConsistent(overrides: Readonly<Record<string, string>>): void {
  const config = topicConfig(overrides);
  if (config.minCompactionLagMs > config.maxCompactionLagMs) {
    throw new TributaryError(
      'INVALID_CONFIG',
      `min.compaction.lag.ms (${config.minCompactionLagMs}) must not exceed max.compaction.lag.ms (${config.maxCompactionLagMs}).`,
      { config: 'min.compaction.lag.ms' },
    );
  }
}

function parseConfigValue(name: string, value: unknown): string {
  if (!isConfigName(name)) {
    const meant = closest(name, configNames);
    throw new TributaryError(
      'INVALID_CONFIG',
      `Unknown topic config '${name}'${meant ? ` (did you mean '${meant}'?)` : ''}.`,
      { config: name, supported: configNames },
    );
  }
  const spec = specs[name];
  const raw = typeof value === 'number' ? String(value) : value;
  const canonical = typeof raw === 'string' ? spec.parse(raw) : undefined;
  if (canonical === undefined) {
    throw new TributaryError(
      'INVALID_CONFIG',
      `Invalid value ${JSON.stringify(value)} for config '${name}': expected ${spec.rule}.`,
      { config: name },
    );
  }
  return canonical;
}

/**
 * Applies a JSON merge patch (RFC 7396) to stored overrides: a value sets the config, null
 * returns it to its default.
 */
export function patchConfigOverrides(
  current: Readonly<Record<string, string>>,
  patch: Record<string, unknown>,
): Record<string, string> {
  const next: Record<string, string> = { ...current };
  for (const [name, value] of Object.entries(patch)) {
    if (value === null) {
      if (!isConfigName(name)) parseConfigValue(name, value);
      delete next[name];
    } else {
      next[name] = parseConfigValue(name, value);
    }
  }
  assertConsistent(next);
  return next;
}

/** Every config with its effective value, overrides first, Kafka's defaults otherwise. */
export function effectiveConfigStrings(
  overrides: Readonly<Record<string, string>>,
): Record<ConfigName, string> {
  const result = {} as Record<ConfigName, string>;
  for (const name of configNames) result[name] = overrides[name] ?? specs[name].default;
  return result;
}

export function topicConfig(overrides: Readonly<Record<string, string>>): TopicConfig {
  const c = effectiveConfigStrings(overrides);
  return {
    retentionMs: Number(c['retention.ms']),
    retentionBytes: Number(c['retention.bytes']),
    cleanupPolicy: c['cleanup.policy'] as TopicConfig['cleanupPolicy'],
    maxMessageBytes: Number(c['max.message.bytes']),
    timestampType: c['message.timestamp.type'] as TopicConfig['timestampType'],
    minCleanableDirtyRatio: Number(c['min.cleanable.dirty.ratio']),
    minCompactionLagMs: Number(c['min.compaction.lag.ms']),
    maxCompactionLagMs:
      c['max.compaction.lag.ms'] === unbounded
        ? Number.POSITIVE_INFINITY
        : Number(c['max.compaction.lag.ms']),
    deleteRetentionMs: Number(c['delete.retention.ms']),
  };
}

/** Reads overrides back from a stored item, keeping only string values. */
export function overridesFromJson(value: JsonValue | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as JsonObject)) {
      if (typeof v === 'string') result[k] = v;
    }
  }
  return result;
}
