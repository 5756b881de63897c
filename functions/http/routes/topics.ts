import { z } from 'zod';
import {
  addPartitions,
  alterTopicConfig,
  createTopic,
  deleteTopic,
  describeTopic,
  listTopics,
} from '../../core/topics/topics.ts';
import { jsonBody, onlyParams, queryOf } from '../request.ts';
import { json, noContent } from '../responses.ts';
import type { Route, RouteRequest } from './route.ts';

const createTopicBody = z.strictObject({
  name: z.string(),
  partitions: z.number().int().optional().default(1),
  config: z.record(z.string(), z.unknown()).optional().default({}),
});

const addPartitionsBody = z.strictObject({ count: z.number().int() });

const configPatchBody = z.record(z.string(), z.unknown());

const noParams = ({ event }: RouteRequest) => onlyParams(queryOf(event), []);

export const topicRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v1/topics',
    handle: async (req) => {
      noParams(req);
      return json(200, { topics: await listTopics(req.deps.ctx) });
    },
  },
  {
    method: 'POST',
    path: '/v1/topics',
    handle: async (req) => {
      noParams(req);
      const body = jsonBody(req.event, createTopicBody);
      return json(201, await createTopic(req.deps.ctx, body));
    },
  },
  {
    method: 'GET',
    path: '/v1/topics/{topic}',
    handle: async (req) => {
      noParams(req);
      return json(200, await describeTopic(req.deps.ctx, req.params.topic ?? ''));
    },
  },
  {
    method: 'DELETE',
    path: '/v1/topics/{topic}',
    handle: async (req) => {
      noParams(req);
      await deleteTopic(req.deps.ctx, req.params.topic ?? '');
      return noContent();
    },
  },
  {
    method: 'PATCH',
    path: '/v1/topics/{topic}/config',
    handle: async (req) => {
      noParams(req);
      const patch = jsonBody(req.event, configPatchBody);
      return json(200, await alterTopicConfig(req.deps.ctx, req.params.topic ?? '', patch));
    },
  },
  {
    method: 'POST',
    path: '/v1/topics/{topic}/partitions',
    handle: async (req) => {
      noParams(req);
      const { count } = jsonBody(req.event, addPartitionsBody);
      return json(200, await addPartitions(req.deps.ctx, req.params.topic ?? '', count));
    },
  },
];
