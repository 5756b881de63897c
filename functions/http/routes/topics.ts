import { z } from 'zod';
import {
  addPartitions,
  alterTopicConfig,
  createTopic,
  deleteTopic,
  describeTopic,
  listTopics,
} from '../../core/topics/topics.ts';
import { nameMap } from '../name-map.ts';
import { jsonBody, noBody, onlyParams, queryOf } from '../request.ts';
import { json, noContent } from '../responses.ts';
import type { Route, RouteRequest } from './route.ts';

const createTopicBody = z.strictObject({
  name: z.string(),
  partitions: z.number().int().optional().default(1),
  config: nameMap(z.string(), z.unknown()).optional().default({}),
});

const addPartitionsBody = z.strictObject({ count: z.number().int() });

const configPatchBody = nameMap(z.string(), z.unknown());

const noParams = ({ event }: RouteRequest) => onlyParams(queryOf(event), []);
const topic = (req: RouteRequest) => req.params.topic ?? '';

export const topicRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v1/topics',
    // Lists only the topics the principal may describe, as Kafka does.
    access: () => [],
    handle: async (req) => {
      noParams(req);
      const topics = [];
      for (const topic of await listTopics(req.deps.ctx)) {
        if (await req.can('DESCRIBE', 'TOPIC', topic.name)) topics.push(topic);
      }
      return json(200, { topics });
    },
  },
  {
    method: 'POST',
    path: '/v1/topics',
    access: (req) => [['CREATE', 'TOPIC', jsonBody(req.event, createTopicBody).name]],
    handle: async (req) => {
      noParams(req);
      const body = jsonBody(req.event, createTopicBody);
      return json(201, await createTopic(req.deps.ctx, body));
    },
  },
  {
    method: 'GET',
    path: '/v1/topics/{topic}',
    access: (req) => [['DESCRIBE', 'TOPIC', topic(req)]],
    handle: async (req) => {
      noParams(req);
      return json(200, await describeTopic(req.deps.ctx, req.params.topic ?? ''));
    },
  },
  {
    method: 'DELETE',
    path: '/v1/topics/{topic}',
    access: (req) => [['DELETE', 'TOPIC', topic(req)]],
    handle: async (req) => {
      noParams(req);
      noBody(req.event);
      await deleteTopic(req.deps.ctx, req.params.topic ?? '');
      return noContent();
    },
  },
  {
    method: 'PATCH',
    path: '/v1/topics/{topic}/config',
    access: (req) => [['ALTER', 'TOPIC', topic(req)]],
    handle: async (req) => {
      noParams(req);
      const patch = jsonBody(req.event, configPatchBody);
      return json(200, await alterTopicConfig(req.deps.ctx, req.params.topic ?? '', patch));
    },
  },
  {
    method: 'POST',
    path: '/v1/topics/{topic}/partitions',
    access: (req) => [['ALTER', 'TOPIC', topic(req)]],
    handle: async (req) => {
      noParams(req);
      const { count } = jsonBody(req.event, addPartitionsBody);
      return json(200, await addPartitions(req.deps.ctx, req.params.topic ?? '', count));
    },
  },
];
