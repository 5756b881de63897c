/**
 * Kafka's rule for names (org.apache.kafka.common.internals.Topic): 1-249 characters of
 * [a-zA-Z0-9._-]. Topics, groups, static members' instance ids and ACL resource names
 * follow it, so a name needs no escaping in a URL path and fits any store key with room
 * to spare (249 bytes; DynamoDB allows 1,024 in a sort key).
 */
export const legalName = /^[a-zA-Z0-9._-]{1,249}$/;

export const isLegalName = (name: string): boolean => legalName.test(name);
