/**
 * Every error Tributary returns, as data. The server maps each code to its HTTP status;
 * the SDK decides whether to retry from `retryable`. Codes are stable: add, never rename.
 *
 * Every error response has one shape:
 * `{"error": {"code": "TOPIC_NOT_FOUND", "message": "...", ...details}}`.
 */
export const errorCodes = {
  INVALID_REQUEST: {
    status: 400,
    retryable: false,
    description:
      'The request is malformed: bad JSON, a wrong type, a missing or unknown field, a bad query parameter.',
  },
  INVALID_RECORD: {
    status: 400,
    retryable: false,
    description:
      'A record in a produce request is malformed (wrong type, bad base64, bad header); details name its index.',
  },
  EMPTY_BATCH: {
    status: 400,
    retryable: false,
    description: 'A produce request carried no records.',
  },
  RECORD_TOO_LARGE: {
    status: 400,
    retryable: false,
    description: "A record is larger than the topic's max.message.bytes.",
  },
  TOO_MANY_PARTITIONS: {
    status: 400,
    retryable: false,
    description: 'A produce request touches more partitions than one atomic commit can hold.',
  },
  INVALID_TOPIC: {
    status: 400,
    retryable: false,
    description:
      'The topic name is not one Kafka allows (1-249 of [a-zA-Z0-9._-], not "." or "..").',
  },
  INVALID_CONFIG: {
    status: 400,
    retryable: false,
    description: 'A topic config key is unknown or its value is invalid.',
  },
  INVALID_PARTITIONS: {
    status: 400,
    retryable: false,
    description: 'A partition count is out of range, or would not increase the count.',
  },
  INVALID_GROUP: {
    status: 400,
    retryable: false,
    description: 'The group name is not valid (1-249 of [a-zA-Z0-9._-], not "." or "..").',
  },
  INVALID_SUBSCRIPTION: {
    status: 400,
    retryable: false,
    description:
      'A subscription setting is not allowed: a bad filter pattern, a target this deployment may not call, a dead-letter topic that is the topic itself; details name the field.',
  },
  UNAUTHENTICATED: {
    status: 401,
    retryable: false,
    description: "No API key, or one that is not valid: send 'Authorization: Bearer <key>'.",
  },
  FORBIDDEN: {
    status: 403,
    retryable: false,
    description:
      "The API key's principal has no ACL allowing this operation on this resource (or one denies it).",
  },
  KEY_NOT_FOUND: {
    status: 404,
    retryable: false,
    description: 'No API key exists for this principal.',
  },
  ACL_NOT_FOUND: { status: 404, retryable: false, description: 'No such ACL.' },
  NOT_FOUND: { status: 404, retryable: false, description: 'No such route.' },
  TOPIC_NOT_FOUND: { status: 404, retryable: false, description: 'The topic does not exist.' },
  MAINTENANCE_RUN_NOT_FOUND: {
    status: 404,
    retryable: false,
    description: 'No maintenance run has this id.',
  },
  PARTITION_NOT_FOUND: {
    status: 404,
    retryable: false,
    description: 'The topic exists but has no such partition.',
  },
  METHOD_NOT_ALLOWED: {
    status: 405,
    retryable: false,
    description: 'The route exists but not for this HTTP method.',
  },
  SUBSCRIPTION_NOT_FOUND: {
    status: 404,
    retryable: false,
    description: 'The topic has no subscription of this name.',
  },
  UNKNOWN_PRODUCER_ID: {
    status: 404,
    retryable: false,
    description:
      'The producer id is unknown or its state expired after 7 days idle; initialise a producer again (POST /v1/producers).',
  },
  PRODUCER_FENCED: {
    status: 409,
    retryable: false,
    description:
      'A newer instance initialised the same transactionalId (a higher producer epoch); this instance must stop.',
  },
  OUT_OF_ORDER_SEQUENCE: {
    status: 409,
    retryable: false,
    description:
      'The producer sequence is not the next one for the partition; details carry the expected sequence.',
  },
  OFFSET_MISMATCH: {
    status: 409,
    retryable: false,
    description:
      "The partition's next offset is not the expectedOffset; details carry the actual next offset.",
  },
  FENCED_LEADER_EPOCH: {
    status: 409,
    retryable: false,
    description:
      "The leader epoch is older than the partition's (another writer took it) or missing on a partition with an exclusive writer.",
  },
  UNKNOWN_LEADER_EPOCH: {
    status: 409,
    retryable: false,
    description: "The leader epoch is newer than the partition's; no writer has taken it yet.",
  },
  GROUP_NOT_FOUND: {
    status: 404,
    retryable: false,
    description: 'The consumer group does not exist.',
  },
  UNKNOWN_MEMBER_ID: {
    status: 404,
    retryable: false,
    description:
      'The member is not in the group: it left, its session lapsed, or a restart with its instanceId replaced it. Join again.',
  },
  ILLEGAL_GENERATION: {
    status: 409,
    retryable: false,
    description:
      "The member's generation is stale: the group rebalanced. Heartbeat to learn the new generation and assignment.",
  },
  PARTITION_NOT_ASSIGNED: {
    status: 409,
    retryable: false,
    description:
      'The member does not own a partition it tried to commit for, or has not owned it without a break since the ownedSince the commit names.',
  },
  STALE_COMMIT: {
    status: 409,
    retryable: false,
    description:
      "A member's commit would move a committed offset back: its records were read before the member last lost the partition. Drop those offsets; reset offsets while the group is empty to read again.",
  },
  GROUP_NOT_EMPTY: {
    status: 409,
    retryable: false,
    description: 'The group still has live members; this operation needs an empty group.',
  },
  GROUP_MAX_SIZE_REACHED: {
    status: 409,
    retryable: false,
    description:
      'The change would take the group past a limit: 200 members, 100 subscribed topics, or a state of 300 KB (some 30,000 owned partitions).',
  },
  TOPIC_ALREADY_EXISTS: {
    status: 409,
    retryable: false,
    description: 'A topic with this name already exists.',
  },
  SUBSCRIPTION_ALREADY_EXISTS: {
    status: 409,
    retryable: false,
    description: 'The topic already has a subscription of this name.',
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    retryable: false,
    description: 'The request body is over 6 MB, the Lambda payload limit.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    retryable: false,
    description:
      'The Content-Type is neither application/json nor application/x-ndjson, or the body is compressed (a Content-Encoding other than identity): send it uncompressed.',
  },
  OFFSET_OUT_OF_RANGE: {
    status: 416,
    retryable: false,
    description:
      'The offset is outside the log: a fetch below logStartOffset or past highWatermark (details carry both bounds), or a commit past highWatermark.',
  },
  RECORD_NOT_DECODABLE: {
    status: 422,
    retryable: false,
    description:
      'A stored record cannot be rendered in the requested format (e.g. binary value fetched as json); fetch it with format=base64.',
  },
  THROTTLED: {
    status: 429,
    retryable: true,
    description: 'A storage service throttled the request; retry with backoff.',
  },
  INTERNAL: {
    status: 500,
    retryable: false,
    description: 'An unexpected server error. Details are in the server log under the request id.',
  },
  COMMIT_CONFLICT: {
    status: 503,
    retryable: true,
    description:
      'Too many concurrent writers raced for the same partition; nothing was written. Retry.',
  },
  STORAGE_UNAVAILABLE: {
    status: 503,
    retryable: true,
    description: 'A storage service did not answer; nothing was acknowledged. Retry.',
  },
} as const satisfies Record<string, { status: number; retryable: boolean; description: string }>;

export type ErrorCode = keyof typeof errorCodes;

/** The JSON body of every error response. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; [detail: string]: unknown };
}

/** Whether retrying a request that failed with `code` can succeed. */
export function isRetryable(code: string): boolean {
  return code in errorCodes && errorCodes[code as ErrorCode].retryable;
}
