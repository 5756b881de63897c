import { describe, expect, it } from 'vitest';
import {
  assertValidFilter,
  matchesFilter,
} from '../../../../functions/core/subscriptions/filter.ts';
import { codeOf } from '../../../support/errors.ts';

const value = (json: unknown) => new TextEncoder().encode(JSON.stringify(json));
const matches = (pattern: Record<string, unknown>, record: unknown) => {
  const filter = { value: pattern };
  assertValidFilter(filter);
  return matchesFilter(filter, record === undefined ? null : value(record));
};

describe('filter patterns, as EventBridge matches them', () => {
  const order = {
    type: 'order',
    amount: 120,
    customer: { tier: 'gold', tags: ['a', 'vip'] },
    note: null,
  };

  it.each([
    [{ type: ['order'] }, true],
    [{ type: ['refund', 'order'] }, true],
    [{ type: ['refund'] }, false],
    [{ amount: [120] }, true],
    [{ note: [null] }, true],
    [{ customer: { tier: ['gold'] } }, true],
    [{ customer: { tags: ['vip'] } }, true],
    [{ type: [{ prefix: 'ord' }] }, true],
    [{ type: [{ suffix: 'der' }] }, true],
    [{ type: [{ 'equals-ignore-case': 'ORDER' }] }, true],
    [{ type: [{ 'anything-but': 'refund' }] }, true],
    [{ type: [{ 'anything-but': ['order', 'refund'] }] }, false],
    [{ type: [{ 'anything-but': { prefix: 'ord' } }] }, false],
    [{ amount: [{ numeric: ['>', 100, '<=', 120] }] }, true],
    [{ amount: [{ numeric: ['<', 100] }] }, false],
    [{ missing: [{ exists: false }] }, true],
    [{ type: [{ exists: true }] }, true],
    [{ type: [{ exists: false }] }, false],
    [{ type: ['order'], amount: [{ numeric: ['<', 10] }] }, false],
    [{ $or: [{ type: ['refund'] }, { amount: [120] }] }, true],
    [{ $or: [{ type: ['refund'] }, { amount: [1] }] }, false],
  ])('%j on an order: %s', (pattern, expected) => {
    expect(matches(pattern, order)).toBe(expected);
  });

  it('matches fields a value has, not members every object inherits', () => {
    for (const field of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      expect(matches({ [field]: [{ exists: true }] }, { type: 'order' }), field).toBe(false);
      expect(matches({ [field]: [{ exists: false }] }, { type: 'order' }), field).toBe(true);
    }
    const own = JSON.parse('{"__proto__": "x", "constructor": "y"}');
    expect(matches(JSON.parse('{"__proto__": ["x"]}'), own)).toBe(true);
    expect(matches({ constructor: ['y'] }, own)).toBe(true);
  });

  it('matches nothing on a value that is not JSON, nor on a tombstone', () => {
    const filter = { value: { type: ['order'] } };
    expect(matchesFilter(filter, new TextEncoder().encode('not json'))).toBe(false);
    expect(matchesFilter(filter, null)).toBe(false);
    expect(matchesFilter({ value: { type: [{ exists: false }] } }, null)).toBe(true);
  });

  it.each([
    [{ type: ['order'] }],
    [{ value: 'x' }],
    [{ value: { type: 'order' } }],
    [{ value: { type: [] } }],
    [{ value: { type: [{ prefix: 1 }] } }],
    [{ value: { type: [{ numeric: ['>>', 1] }] } }],
    [{ value: { type: [{ wildcard: '*' }] } }],
    [{ value: { type: [{ prefix: 'a', suffix: 'b' }] } }],
    [{ value: { $or: [{ a: ['x'] }] } }],
    [{ value: { a: [['nested']] } }],
    [{ value: { a: ['x'.repeat(5000)] } }],
  ])('refuses %j', (filter) => {
    expect(codeOf(() => assertValidFilter(filter))).toBe('INVALID_SUBSCRIPTION');
  });
});
