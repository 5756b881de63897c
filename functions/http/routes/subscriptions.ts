import { z } from 'zod';
import { TributaryError } from '../../core/errors.ts';
import { defaultSettings } from '../../core/subscriptions/subscription.ts';
import {
  createSubscription,
  deleteSubscription,
  describeSubscription,
  listSubscriptions,
  updateSubscription,
} from '../../core/subscriptions/subscriptions.ts';
import { assertValidTopicName } from '../../core/topics/topic-name.ts';
import { nameMap, parsedJson } from '../name-map.ts';
import { jsonBody, noBody, onlyParams, queryOf } from '../request.ts';
import { json, noContent } from '../responses.ts';
import type { Access, Route, RouteRequest } from './route.ts';

/** Names and values are checked by the core (INVALID_SUBSCRIPTION naming the header). */
const headers = nameMap(z.string(), z.string());

const target = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('lambda'), function: z.string().min(1).max(256) }),
  z.strictObject({
    type: z.literal('http'),
    url: z.string().min(1).max(2048),
    headers: headers.optional().default({}),
  }),
]);

// The bounds of Lambda's stream event source mappings.
const settings = {
  batchSize: z.number().int().min(1).max(10_000),
  maxBatchingWindowMs: z.number().int().min(0).max(300_000),
  maxRetryAttempts: z.number().int().min(-1).max(10_000),
  maxRecordAgeMs: z
    .number()
    .int()
    .refine((ms) => ms === -1 || (ms >= 60_000 && ms <= 604_800_000), '-1, or 60000 to 604800000'),
  bisectBatchOnFunctionError: z.boolean(),
  onFailure: z.strictObject({ topic: z.string() }).nullable(),
  filter: nameMap(z.string(), parsedJson).nullable(),
  enabled: z.boolean(),
};

const createBody = z.strictObject({
  name: z.string(),
  target,
  startingPosition: z.enum(['LATEST', 'TRIM_HORIZON', 'AT_TIMESTAMP']).optional().default('LATEST'),
  startingPositionTimestamp: z.number().int().min(0).optional(),
  batchSize: settings.batchSize.optional().default(defaultSettings.batchSize),
  maxBatchingWindowMs: settings.maxBatchingWindowMs
    .optional()
    .default(defaultSettings.maxBatchingWindowMs),
  maxRetryAttempts: settings.maxRetryAttempts.optional().default(defaultSettings.maxRetryAttempts),
  maxRecordAgeMs: settings.maxRecordAgeMs.optional().default(defaultSettings.maxRecordAgeMs),
  bisectBatchOnFunctionError: settings.bisectBatchOnFunctionError.optional().default(false),
  onFailure: settings.onFailure.optional().default(null),
  filter: settings.filter.optional().default(null),
  enabled: settings.enabled.optional().default(true),
});

const patchBody = z.strictObject({
  batchSize: settings.batchSize.optional(),
  maxBatchingWindowMs: settings.maxBatchingWindowMs.optional(),
  maxRetryAttempts: settings.maxRetryAttempts.optional(),
  maxRecordAgeMs: settings.maxRecordAgeMs.optional(),
  bisectBatchOnFunctionError: settings.bisectBatchOnFunctionError.optional(),
  onFailure: settings.onFailure.optional(),
  filter: settings.filter.optional(),
  enabled: settings.enabled.optional(),
  rotateSecret: z.boolean().optional(),
});

const topic = (req: RouteRequest) => req.params.topic ?? '';
const name = (req: RouteRequest) => req.params.name ?? '';
const noParams = ({ event }: RouteRequest) => onlyParams(queryOf(event), []);

/**
 * Creating or changing a subscription reads the topic on the caller's behalf from then on
 * and changes what happens to it: READ and ALTER on the topic; writing dead letters needs
 * WRITE on the onFailure topic.
 */
/** A dead-letter topic's name, refused (INVALID_TOPIC) before anyone's rights are looked up. */
function validTopicName(name: string): string {
  try {
    assertValidTopicName(name);
  } catch (error: unknown) {
    if (error instanceof TributaryError) error.details.field = 'onFailure.topic';
    throw error;
  }
  return name;
}

const changing = (req: RouteRequest, onFailure: { topic: string } | null | undefined): Access[] => [
  ['READ', 'TOPIC', topic(req)],
  ['ALTER', 'TOPIC', topic(req)],
  ...(onFailure ? [['WRITE', 'TOPIC', validTopicName(onFailure.topic)] as const] : []),
];

export const subscriptionRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/topics/{topic}/subscriptions',
    access: (req) => changing(req, jsonBody(req.event, createBody).onFailure),
    handle: async (req) => {
      noParams(req);
      const { startingPositionTimestamp, target: t, ...rest } = jsonBody(req.event, createBody);
      const description = await createSubscription(req.deps, topic(req), {
        ...rest,
        target: t.type === 'lambda' ? t : { type: 'http', url: t.url, headers: t.headers },
        startingPositionTimestamp: startingPositionTimestamp ?? null,
      });
      return json(201, description);
    },
  },
  {
    method: 'GET',
    path: '/v1/topics/{topic}/subscriptions',
    access: (req) => [['DESCRIBE', 'TOPIC', topic(req)]],
    handle: async (req) => {
      noParams(req);
      return json(200, { subscriptions: await listSubscriptions(req.deps.ctx, topic(req)) });
    },
  },
  {
    method: 'GET',
    path: '/v1/topics/{topic}/subscriptions/{name}',
    access: (req) => [['DESCRIBE', 'TOPIC', topic(req)]],
    handle: async (req) => {
      noParams(req);
      return json(200, await describeSubscription(req.deps.ctx, topic(req), name(req)));
    },
  },
  {
    method: 'PATCH',
    path: '/v1/topics/{topic}/subscriptions/{name}',
    access: (req) => changing(req, jsonBody(req.event, patchBody).onFailure),
    handle: async (req) => {
      noParams(req);
      const patch = jsonBody(req.event, patchBody);
      return json(200, await updateSubscription(req.deps, topic(req), name(req), patch));
    },
  },
  {
    method: 'DELETE',
    path: '/v1/topics/{topic}/subscriptions/{name}',
    access: (req) => [['ALTER', 'TOPIC', topic(req)]],
    handle: async (req) => {
      noParams(req);
      noBody(req.event);
      await deleteSubscription(req.deps.ctx, topic(req), name(req));
      return noContent();
    },
  },
];
