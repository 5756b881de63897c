import type { RecordAck } from '../core/log/produce.ts';

/**
 * A produce's answer, `{"offsets":[{"partition","offset","timestamp"}, ...]}`, byte for byte
 * as JSON.stringify writes it (a finite number as its String), written from the fields it
 * knows rather than by JSON.stringify walking each ack as an object of any shape.
 */
export function acksJson(offsets: readonly RecordAck[]): string {
  let out = '{"offsets":[';
  for (let i = 0; i < offsets.length; i++) {
    const { partition, offset, timestamp } = offsets[i] as RecordAck;
    // Acks hold finite numbers; were one not to, JSON.stringify would write it as null.
    if (!(Number.isFinite(partition) && Number.isFinite(offset) && Number.isFinite(timestamp))) {
      return JSON.stringify({ offsets });
    }
    out += `${i === 0 ? '' : ','}{"partition":${partition},"offset":${offset},"timestamp":${timestamp}}`;
  }
  return `${out}]}`;
}
