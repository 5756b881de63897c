import type { CoreContext } from '../context.ts';
import { TributaryError } from '../errors.ts';
import { isLegalName } from '../names.ts';
import { expectAny, type ItemKey, type StoredItem } from '../ports/metadata-store.ts';
import { isTransactionalId } from '../producers/producers.ts';
import { isPrincipalName } from './api-keys.ts';

export const operations = ['READ', 'WRITE', 'CREATE', 'DELETE', 'ALTER', 'DESCRIBE'] as const;
export const resourceTypes = ['TOPIC', 'GROUP', 'CLUSTER', 'TRANSACTIONAL_ID'] as const;
export const patternTypes = ['LITERAL', 'PREFIXED'] as const;
export const permissions = ['ALLOW', 'DENY'] as const;

export type Operation = (typeof operations)[number];
export type ResourceType = (typeof resourceTypes)[number];
export type PatternType = (typeof patternTypes)[number];
export type Permission = (typeof permissions)[number];

/** The one cluster resource's name (Kafka calls it kafka-cluster). */
export const clusterName = 'cluster';

/**
 * A Kafka-style ACL. `principal` may be `*` (every principal); a LITERAL `resourceName`
 * may be `*` (every resource of the type); a PREFIXED one matches names starting with it.
 */
export interface Acl {
  readonly principal: string;
  readonly permission: Permission;
  readonly operation: Operation;
  readonly resourceType: ResourceType;
  readonly patternType: PatternType;
  readonly resourceName: string;
}

/**
 * ACLs live under one partition key, sorted by principal so one query finds a principal's:
 *   pk "acls"  sk <principal>#<resourceType>#<patternType>#<operation>#<permission>#<name>
 */
const aclsPk = 'acls';
const aclKey = (acl: Acl): ItemKey => ({
  pk: aclsPk,
  sk: [
    acl.principal,
    acl.resourceType,
    acl.patternType,
    acl.operation,
    acl.permission,
    acl.resourceName,
  ].join('#'),
});

/** A principal an ACL names: a principal name, or `*` for every principal. */
function assertAclPrincipal(principal: string): void {
  if (principal !== '*' && !isPrincipalName(principal)) {
    throw new TributaryError(
      'INVALID_REQUEST',
      `Invalid ACL principal '${principal.slice(0, 300)}': use '*' or 1-249 characters of [A-Za-z0-9._:@-].`,
      { field: 'principal' },
    );
  }
}

export function assertValidAcl(acl: Acl): void {
  assertAclPrincipal(acl.principal);
  // Topics, groups and the cluster are named by Kafka's rule, transactional ids by their
  // own (printable ASCII): no other name could match one. The name is the last part of an
  // ACL's key, so a '#' in a transactional id cannot be mistaken for a separator.
  if (acl.resourceType === 'TRANSACTIONAL_ID') {
    if (acl.resourceName !== '*' && !isTransactionalId(acl.resourceName)) {
      throw new TributaryError(
        'INVALID_REQUEST',
        "resourceName must be '*' or a transactional id: 1-249 printable ASCII characters without spaces.",
        { field: 'resourceName' },
      );
    }
  } else if (acl.resourceName !== '*' && !isLegalName(acl.resourceName)) {
    throw new TributaryError(
      'INVALID_REQUEST',
      "resourceName must be '*' or 1-249 characters of [a-zA-Z0-9._-], as topic and group names are.",
      { field: 'resourceName' },
    );
  }
  if (acl.patternType === 'PREFIXED' && acl.resourceName === '*') {
    throw new TributaryError(
      'INVALID_REQUEST',
      "A PREFIXED ACL cannot use '*'; use LITERAL '*' for every resource.",
      {
        field: 'resourceName',
      },
    );
  }
}

export async function addAcl(ctx: CoreContext, acl: Acl): Promise<Acl> {
  assertValidAcl(acl);
  await ctx.metadata.transact([
    { type: 'put', key: aclKey(acl), data: { ...acl }, expect: expectAny },
  ]);
  return acl;
}

export async function removeAcl(ctx: CoreContext, acl: Acl): Promise<void> {
  assertValidAcl(acl);
  const key = aclKey(acl);
  if (!(await ctx.metadata.get(key))) {
    throw new TributaryError('ACL_NOT_FOUND', 'No such ACL.', { ...acl });
  }
  await ctx.metadata.deleteMany([key]);
}

export async function listAcls(ctx: CoreContext, principal?: string): Promise<Acl[]> {
  if (principal !== undefined) assertAclPrincipal(principal);
  const items = principal
    ? await ctx.metadata.query(aclsPk, { from: `${principal}#`, to: `${principal}#~` })
    : await ctx.metadata.query(aclsPk);
  return items.map(aclFromItem);
}

function aclFromItem(item: StoredItem): Acl {
  const d = item.data;
  return {
    principal: String(d.principal),
    permission: d.permission === 'DENY' ? 'DENY' : 'ALLOW',
    operation: operations.find((o) => o === d.operation) ?? 'DESCRIBE',
    resourceType: resourceTypes.find((t) => t === d.resourceType) ?? 'TOPIC',
    patternType: d.patternType === 'PREFIXED' ? 'PREFIXED' : 'LITERAL',
    resourceName: String(d.resourceName),
  };
}

/** Kafka's implication: allowing READ, WRITE, DELETE or ALTER also allows DESCRIBE. */
const impliesDescribe: readonly Operation[] = ['READ', 'WRITE', 'DELETE', 'ALTER'];

/**
 * Kafka's decision: among the ACLs matching the principal (or `*`), the operation and the
 * resource, any DENY wins; otherwise an ALLOW allows; with none, access is denied.
 */
export function isAllowed(
  acls: readonly Acl[],
  principal: string,
  operation: Operation,
  resourceType: ResourceType,
  resourceName: string,
): boolean {
  let allowed = false;
  for (const acl of acls) {
    if (acl.principal !== principal && acl.principal !== '*') continue;
    if (acl.resourceType !== resourceType) continue;
    const nameMatches =
      acl.patternType === 'PREFIXED'
        ? resourceName.startsWith(acl.resourceName)
        : acl.resourceName === resourceName || acl.resourceName === '*';
    if (!nameMatches) continue;
    if (acl.operation === operation) {
      if (acl.permission === 'DENY') return false;
      allowed = true;
    } else if (
      operation === 'DESCRIBE' &&
      acl.permission === 'ALLOW' &&
      impliesDescribe.includes(acl.operation)
    ) {
      allowed = true;
    }
  }
  return allowed;
}
