import { TributaryError } from '../errors.ts';
import { isLegalName } from '../names.ts';

/**
 * Kafka's rule (org.apache.kafka.common.internals.Topic): 1-249 legal characters, and not
 * "." or "..", which would name a directory on a broker. Checked wherever a topic name
 * enters, whether it creates or looks up: a malformed name is INVALID_TOPIC, as Kafka
 * answers, never TOPIC_NOT_FOUND.
 */
export function assertValidTopicName(name: string): void {
  if (!isLegalName(name) || name === '.' || name === '..') {
    throw new TributaryError(
      'INVALID_TOPIC',
      `Invalid topic name '${name.slice(0, 300)}': use 1-249 characters of [a-zA-Z0-9._-], not '.' or '..'.`,
      { topic: name.slice(0, 300) },
    );
  }
}
