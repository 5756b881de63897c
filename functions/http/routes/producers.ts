import { z } from 'zod';
import { initProducer } from '../../core/producers/producers.ts';
import { jsonBody, onlyParams, queryOf } from '../request.ts';
import { json } from '../responses.ts';
import type { Route } from './route.ts';

const initProducerBody = z.strictObject({ transactionalId: z.string().optional() });

export const producerRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/producers',
    // A producer id grants nothing by itself: every write still needs WRITE on its topic.
    // A transactional id is a resource of its own, as in Kafka: taking it fences whoever
    // held it, so it needs WRITE on it.
    access: ({ event }) => {
      const { transactionalId } = jsonBody(event, initProducerBody);
      return transactionalId === undefined ? [] : [['WRITE', 'TRANSACTIONAL_ID', transactionalId]];
    },
    handle: async ({ event, deps }) => {
      onlyParams(queryOf(event), []);
      const { transactionalId } = jsonBody(event, initProducerBody);
      return json(200, await initProducer(deps.ctx, transactionalId));
    },
  },
];
