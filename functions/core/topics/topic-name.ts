import { TributaryError } from '../errors.ts';

// Kafka's rule (org.apache.kafka.common.internals.Topic): 1-249 legal characters, and not
// "." or "..", which would name a directory on a broker.
const legalName = /^[a-zA-Z0-9._-]{1,249}$/;

export function assertValidTopicName(name: string): void {
  if (!legalName.test(name) || name === '.' || name === '..') {
    throw new TributaryError(
      'INVALID_TOPIC',
      `Invalid topic name '${name.slice(0, 300)}': use 1-249 characters of [a-zA-Z0-9._-], not '.' or '..'.`,
      { topic: name.slice(0, 300) },
    );
  }
}
