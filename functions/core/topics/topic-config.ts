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
}

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
  | 'message.timestamp.type';

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
  return result;
}

function parseConfigValue(name: string, value: unknown): string {
  if (!isConfigName(name)) {
    throw new TributaryError('INVALID_CONFIG', `Unknown topic config '${name}'.`, {
      config: name,
      supported: configNames,
    });
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
