import { z } from 'zod';
import {
  addAcl,
  clusterName,
  listAcls,
  operations,
  patternTypes,
  permissions,
  removeAcl,
  resourceTypes,
} from '../../core/auth/acls.ts';
import { createApiKey, deleteApiKey, listApiKeys } from '../../core/auth/api-keys.ts';
import { TributaryError } from '../../core/errors.ts';
import { jsonBody, noBody, onlyParams, queryOf } from '../request.ts';
import { json, noContent } from '../responses.ts';
import type { Access, Route, RouteRequest } from './route.ts';

const keyBody = z.strictObject({ principal: z.string() });
const aclBody = z.strictObject({
  principal: z.string(),
  permission: z.enum(permissions),
  operation: z.enum(operations),
  resourceType: z.enum(resourceTypes),
  patternType: z.enum(patternTypes).optional().default('LITERAL'),
  resourceName: z.string(),
});

// Kafka's rule: managing credentials and ACLs is ALTER on the cluster, reading them DESCRIBE.
const alterCluster = (): Access[] => [['ALTER', 'CLUSTER', clusterName]];
const describeCluster = (): Access[] => [['DESCRIBE', 'CLUSTER', clusterName]];
const noParams = ({ event }: RouteRequest) => onlyParams(queryOf(event), []);
/** This instance forgets cached keys and ACLs at once; others within the cache time. */
const changed = (req: RouteRequest) => req.deps.auth?.forget();

export const adminRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/admin/maintenance',
    access: alterCluster,
    handle: async (req) => {
      noParams(req);
      jsonBody(req.event, z.strictObject({}));
      const outcome = await req.deps.maintenance.run();
      return outcome.kind === 'finished'
        ? json(200, { report: outcome.report })
        : json(202, outcome.run);
    },
  },
  {
    method: 'GET',
    path: '/v1/admin/maintenance/{id}',
    access: describeCluster,
    handle: async (req) => {
      noParams(req);
      const id = req.params.id ?? '';
      const run = await req.deps.maintenance.describe(id);
      if (!run) {
        throw new TributaryError(
          'MAINTENANCE_RUN_NOT_FOUND',
          `No maintenance run '${id.slice(0, 100)}': ids are those POST /v1/admin/maintenance answered.`,
          { id: id.slice(0, 100) },
        );
      }
      return json(200, run);
    },
  },
  {
    method: 'POST',
    path: '/v1/admin/keys',
    access: alterCluster,
    handle: async (req) => {
      noParams(req);
      const { principal } = jsonBody(req.event, keyBody);
      const created = await createApiKey(req.deps.ctx, principal);
      changed(req);
      return json(201, created);
    },
  },
  {
    method: 'GET',
    path: '/v1/admin/keys',
    access: describeCluster,
    handle: async (req) => {
      noParams(req);
      return json(200, { keys: await listApiKeys(req.deps.ctx) });
    },
  },
  {
    method: 'DELETE',
    path: '/v1/admin/keys/{principal}',
    access: alterCluster,
    handle: async (req) => {
      noParams(req);
      noBody(req.event);
      await deleteApiKey(req.deps.ctx, req.params.principal ?? '');
      changed(req);
      return noContent();
    },
  },
  {
    method: 'POST',
    path: '/v1/admin/acls',
    access: alterCluster,
    handle: async (req) => {
      noParams(req);
      const acl = await addAcl(req.deps.ctx, jsonBody(req.event, aclBody));
      changed(req);
      return json(201, acl);
    },
  },
  {
    method: 'GET',
    path: '/v1/admin/acls',
    access: describeCluster,
    handle: async (req) => {
      const query = queryOf(req.event);
      onlyParams(query, ['principal']);
      return json(200, { acls: await listAcls(req.deps.ctx, query.principal) });
    },
  },
  {
    method: 'DELETE',
    path: '/v1/admin/acls',
    access: alterCluster,
    handle: async (req) => {
      noParams(req);
      await removeAcl(req.deps.ctx, jsonBody(req.event, aclBody));
      changed(req);
      return noContent();
    },
  },
];
