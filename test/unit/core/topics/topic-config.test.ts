import { describe, expect, it } from 'vitest';
import {
  effectiveConfigStrings,
  parseConfigOverrides,
  patchConfigOverrides,
  topicConfig,
} from '../../../../functions/core/topics/topic-config.ts';
import { assertValidTopicName } from '../../../../functions/core/topics/topic-name.ts';
import { codeOf } from '../../../support/errors.ts';

describe('topic names', () => {
  it.each(['a', 'orders', 'Orders.v2', 'a_b-c.d', '0', '...', 'x'.repeat(249)])(
    'accepts %s',
    (name) => {
      expect(codeOf(() => assertValidTopicName(name))).toBe('no error');
    },
  );
  it.each(['', '.', '..', 'a b', 'a/b', 'ü', 'x'.repeat(250), 'a\n'])('refuses %j', (name) => {
    expect(codeOf(() => assertValidTopicName(name))).toBe('INVALID_TOPIC');
  });
});

describe('topic config', () => {
  it("defaults to Kafka's values", () => {
    expect(effectiveConfigStrings({})).toEqual({
      'retention.ms': '604800000',
      'retention.bytes': '-1',
      'cleanup.policy': 'delete',
      'max.message.bytes': '1048576',
      'message.timestamp.type': 'CreateTime',
      'min.cleanable.dirty.ratio': '0.5',
      'min.compaction.lag.ms': '0',
      'max.compaction.lag.ms': '9223372036854775807',
      'delete.retention.ms': '86400000',
    });
  });

  it('canonicalises values given as strings or numbers', () => {
    expect(
      parseConfigOverrides({
        'retention.ms': 3600000,
        'retention.bytes': '1024',
        'cleanup.policy': 'delete, compact',
      }),
    ).toEqual({
      'retention.ms': '3600000',
      'retention.bytes': '1024',
      'cleanup.policy': 'compact,delete',
    });
  });

  it.each([
    ['retention.ms', '1.5'],
    ['retention.ms', '-2'],
    ['retention.ms', '1e3'],
    ['retention.ms', true],
    ['retention.bytes', '99999999999999999999'],
    ['cleanup.policy', 'delete,shred'],
    ['max.message.bytes', '0'],
    ['max.message.bytes', '4194305'],
    ['message.timestamp.type', 'createtime'],
    ['compression.type', 'zstd'],
  ])('refuses %s = %j', (name, value) => {
    expect(codeOf(() => parseConfigOverrides({ [name]: value }))).toBe('INVALID_CONFIG');
  });

  it('patches: a value sets, null returns to the default, the rest stays', () => {
    const current = { 'retention.ms': '1000', 'retention.bytes': '10' };
    expect(
      patchConfigOverrides(current, { 'retention.ms': null, 'max.message.bytes': 2048 }),
    ).toEqual({
      'retention.bytes': '10',
      'max.message.bytes': '2048',
    });
    expect(codeOf(() => patchConfigOverrides(current, { 'no.such': null }))).toBe('INVALID_CONFIG');
  });

  it('types the effective config', () => {
    expect(
      topicConfig({ 'retention.ms': '-1', 'message.timestamp.type': 'LogAppendTime' }),
    ).toEqual({
      retentionMs: -1,
      retentionBytes: -1,
      cleanupPolicy: 'delete',
      maxMessageBytes: 1048576,
      timestampType: 'LogAppendTime',
      minCleanableDirtyRatio: 0.5,
      minCompactionLagMs: 0,
      maxCompactionLagMs: Number.POSITIVE_INFINITY,
      deleteRetentionMs: 86400000,
    });
  });

  it('validates the compaction configs, alone and together, as Kafka does', () => {
    expect(
      parseConfigOverrides({
        'min.cleanable.dirty.ratio': '0.25',
        'min.compaction.lag.ms': 60000,
        'max.compaction.lag.ms': '3600000',
        'delete.retention.ms': '0',
      }),
    ).toEqual({
      'min.cleanable.dirty.ratio': '0.25',
      'min.compaction.lag.ms': '60000',
      'max.compaction.lag.ms': '3600000',
      'delete.retention.ms': '0',
    });
    // Shown as written, never in exponent form.
    expect(parseConfigOverrides({ 'min.cleanable.dirty.ratio': '0.0000001' })).toEqual({
      'min.cleanable.dirty.ratio': '0.0000001',
    });
    expect(parseConfigOverrides({ 'min.cleanable.dirty.ratio': '.5' })).toEqual({
      'min.cleanable.dirty.ratio': '0.5',
    });
    for (const [name, value] of [
      ['min.cleanable.dirty.ratio', '1.5'],
      ['min.cleanable.dirty.ratio', '-0.1'],
      ['min.cleanable.dirty.ratio', 'half'],
      ['min.compaction.lag.ms', '-1'],
      ['max.compaction.lag.ms', '0'],
      ['delete.retention.ms', '-5'],
    ]) {
      expect(codeOf(() => parseConfigOverrides({ [name as string]: value }))).toBe(
        'INVALID_CONFIG',
      );
    }
    expect(
      codeOf(() =>
        parseConfigOverrides({ 'min.compaction.lag.ms': '10', 'max.compaction.lag.ms': '5' }),
      ),
    ).toBe('INVALID_CONFIG');
  });
});
