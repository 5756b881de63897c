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
    access: () => [],
    handle: async ({ event, deps }) => {
      onlyParams(queryOf(event), []);
      const { transactionalId } = jsonBody(event, initProducerBody);
      return json(200, await initProducer(deps.ctx, transactionalId));
    },
  },
];
