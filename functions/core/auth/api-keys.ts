import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CoreContext } from '../context.ts';
import { TributaryError } from '../errors.ts';
import {
  expectAbsent,
  expectAny,
  expectVersion,
  type ItemKey,
  lostRace,
  type WriteOp,
} from '../ports/metadata-store.ts';

/**
 * API keys: each key is a principal. Keys are random (256 bits), shown once, and stored
 * only as their SHA-256 — a fast hash is right for high-entropy secrets, and a leaked
 * table reveals no key.
 *
 *   pk "api-keys"        sk <principal>    the principal's current key hash
 *   pk "api-key-hashes"  sk <sha256 hex>   hash → principal, to authenticate a request
 */
const principalKey = (principal: string): ItemKey => ({ pk: 'api-keys', sk: principal });
const hashKey = (hash: string): ItemKey => ({ pk: 'api-key-hashes', sk: hash });

/** The principal of the bootstrap key, which every check allows. */
export const adminPrincipal = 'admin';

export interface Principal {
  readonly name: string;
  /** The bootstrap admin: allowed everything, ACLs or not. */
  readonly admin: boolean;
}

const principalPattern = /^[A-Za-z0-9._:@-]{1,249}$/;

/** Whether `name` can be a principal: 1-249 of [A-Za-z0-9._:@-]. */
export const isPrincipalName = (name: string): boolean => principalPattern.test(name);

const invalidPrincipal = (name: string) =>
  new TributaryError(
    'INVALID_REQUEST',
    `Invalid principal '${name.slice(0, 300)}': use 1-249 characters of [A-Za-z0-9._:@-]; '${adminPrincipal}' is reserved.`,
    { field: 'principal' },
  );

/** A principal name, wherever one enters (a key's is looked up by it). */
export function assertPrincipalName(name: string): void {
  if (!isPrincipalName(name)) throw invalidPrincipal(name);
}

/** A principal a key may be issued to: a principal name, and not the reserved admin. */
export function assertValidPrincipal(name: string): void {
  if (!isPrincipalName(name) || name === adminPrincipal) throw invalidPrincipal(name);
}

export const hashApiKey = (key: string): string => createHash('sha256').update(key).digest('hex');

/** Issues a new key for the principal, replacing (and revoking) any key it had. */
export async function createApiKey(
  ctx: CoreContext,
  principal: string,
): Promise<{ principal: string; key: string }> {
  assertValidPrincipal(principal);
  const key = `trb_${randomBytes(32).toString('base64url')}`;
  const hash = hashApiKey(key);
  for (;;) {
    const current = await ctx.metadata.get(principalKey(principal));
    const ops: WriteOp[] = [
      {
        type: 'put',
        key: principalKey(principal),
        data: { hash, createdAt: ctx.now() },
        expect: current ? expectVersion(current.version) : expectAbsent,
      },
      { type: 'put', key: hashKey(hash), data: { principal }, expect: expectAbsent },
    ];
    if (current && typeof current.data.hash === 'string') {
      ops.push({ type: 'delete', key: hashKey(current.data.hash), expect: expectAny });
    }
    try {
      await ctx.metadata.transact(ops);
      return { principal, key };
    } catch (error: unknown) {
      if (!(await lostRace(error))) throw error;
    }
  }
}

export async function listApiKeys(ctx: CoreContext) {
  const items = await ctx.metadata.query('api-keys');
  return items.map((item) => ({ principal: item.sk, createdAt: Number(item.data.createdAt) }));
}

/** Revokes the principal's key. Its ACLs stay, for a key issued again later. */
export async function deleteApiKey(ctx: CoreContext, principal: string): Promise<void> {
  const current = await ctx.metadata.get(principalKey(principal));
  if (!current) {
    throw new TributaryError('KEY_NOT_FOUND', `No API key exists for principal '${principal}'.`, {
      principal,
    });
  }
  await ctx.metadata.transact([
    { type: 'delete', key: principalKey(principal), expect: expectVersion(current.version) },
    { type: 'delete', key: hashKey(String(current.data.hash)), expect: expectAny },
  ]);
}

/**
 * Who a presented key belongs to, or undefined. The bootstrap admin key is compared by
 * its hash in constant time; other keys are looked up by hash.
 */
export async function authenticate(
  ctx: CoreContext,
  key: string,
  adminKeyHash: string | undefined,
): Promise<Principal | undefined> {
  const hash = hashApiKey(key);
  if (adminKeyHash && timingSafeEqual(Buffer.from(hash), Buffer.from(adminKeyHash))) {
    return { name: adminPrincipal, admin: true };
  }
  const item = await ctx.metadata.get(hashKey(hash));
  return item ? { name: String(item.data.principal), admin: false } : undefined;
}
