import { openApiJson } from '../openapi.ts';
import { onlyParams, queryOf } from '../request.ts';
import { json, rawJson } from '../responses.ts';
import type { Route, RouteRequest } from './route.ts';

const noParams = ({ event }: RouteRequest) => onlyParams(queryOf(event), []);

/** Where a person who opened the API's root in a browser, or curled it, goes next. */
const index = {
  service: 'Tributary',
  message:
    "Tributary's REST API: routes are under /v1. GET /v1/openapi.json describes every route; docs/api.md in the repository explains them.",
  links: { health: '/v1/health', openapi: '/v1/openapi.json', topics: '/v1/topics' },
};

/** The API's root, and its description as OpenAPI 3.1: public, like the health check. */
export const serviceRoutes: Route[] = [
  ...['/', '/v1'].map(
    (path): Route => ({
      method: 'GET',
      path,
      access: 'public',
      handle: async (req) => {
        noParams(req);
        return json(200, index);
      },
    }),
  ),
  {
    method: 'GET',
    path: '/v1/openapi.json',
    access: 'public',
    handle: async (req) => {
      noParams(req);
      return rawJson(200, await openApiJson());
    },
  },
];
