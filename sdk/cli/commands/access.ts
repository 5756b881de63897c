import type { Acl } from '../../src/index.ts';
import { type Flags, type OptionSpecs, UsageError } from '../args.ts';
import { type Command, outputOption } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';
import { isoTime, jsonOutput, print, printJson, table } from '../output.ts';

const createKey: Command = {
  words: ['keys', 'create'],
  args: ['<principal>'],
  summary: 'issue an API key for a principal',
  description:
    'Issues a key for the principal, revoking any key it had, and prints it: it is shown once (the server keeps only its hash). Needs ALTER on CLUSTER.',
  options: { ...outputOption },
  examples: [
    'tributary keys create billing-service',
    'KEY=$(tributary keys create billing-service)',
  ],
  async run({ args, flags, client }) {
    const json = jsonOutput(flags);
    const key = await client().keys.create(args[0] ?? '');
    await (json ? printJson(key) : print(`${key.key}\n`));
    return exitCodes.ok;
  },
};

const listKeys: Command = {
  words: ['keys', 'list'],
  args: [],
  summary: 'list principals with a key',
  description:
    'Prints each principal with a key and when it was issued; never the keys themselves.',
  options: { ...outputOption },
  examples: ['tributary keys list'],
  async run({ flags, client }) {
    const json = jsonOutput(flags);
    const keys = await client().keys.list();
    if (json) await printJson(keys);
    else {
      await print(
        table([['PRINCIPAL', 'CREATED'], ...keys.map((k) => [k.principal, isoTime(k.createdAt)])]),
      );
    }
    return exitCodes.ok;
  },
};

const deleteKey: Command = {
  words: ['keys', 'delete'],
  args: ['<principal>'],
  summary: "revoke a principal's key",
  description: "Revokes the principal's key; its ACLs stay. KEY_NOT_FOUND exits 3.",
  options: {},
  examples: ['tributary keys delete billing-service'],
  async run({ args, client }) {
    await client().keys.delete(args[0] ?? '');
    return exitCodes.ok;
  },
};

const operations = ['READ', 'WRITE', 'CREATE', 'DELETE', 'ALTER', 'DESCRIBE'] as const;

const aclOptions = {
  principal: {
    type: 'string',
    value: '<name>',
    help: 'whom the ACL is for; * for everyone (required)',
  },
  operation: {
    type: 'string',
    value: '<op>',
    help: `${operations.join(', ')} (required; any case)`,
  },
  topic: { type: 'string', value: '<name>', help: 'the ACL is on this topic (* for every topic)' },
  group: { type: 'string', value: '<name>', help: 'the ACL is on this group (* for every group)' },
  cluster: { type: 'boolean', help: 'the ACL is on the cluster (keys and ACLs)' },
  prefixed: {
    type: 'boolean',
    help: 'the name is a prefix: it matches every name starting with it',
  },
  deny: { type: 'boolean', help: 'deny rather than allow; a DENY wins over any ALLOW' },
} as const satisfies OptionSpecs;

/** The ACL the flags describe; exactly one of --topic, --group, --cluster. */
function aclFrom(flags: Flags): Acl {
  const principal = flags.string('principal');
  const operation = flags.string('operation')?.toUpperCase();
  if (principal === undefined || operation === undefined) {
    throw new UsageError('An ACL needs --principal <name> and --operation <op>.');
  }
  const op = operations.find((o) => o === operation);
  if (op === undefined) {
    throw new UsageError(
      `--operation must be one of ${operations.join(', ')}; got '${operation}'.`,
    );
  }
  const topic = flags.string('topic');
  const group = flags.string('group');
  const cluster = flags.boolean('cluster');
  if ([topic !== undefined, group !== undefined, cluster].filter(Boolean).length !== 1) {
    throw new UsageError(
      'An ACL is on one resource: give exactly one of --topic, --group, --cluster.',
    );
  }
  const resource: Pick<Acl, 'resourceType' | 'resourceName'> =
    topic !== undefined
      ? { resourceType: 'TOPIC', resourceName: topic }
      : group !== undefined
        ? { resourceType: 'GROUP', resourceName: group }
        : { resourceType: 'CLUSTER', resourceName: 'cluster' };
  return {
    principal,
    permission: flags.boolean('deny') ? 'DENY' : 'ALLOW',
    operation: op,
    patternType: flags.boolean('prefixed') ? 'PREFIXED' : 'LITERAL',
    ...resource,
  };
}

const aclRow = (acl: Acl) => [
  acl.principal,
  acl.permission,
  acl.operation,
  acl.resourceType,
  acl.patternType,
  acl.resourceName,
];
const aclHeader = ['PRINCIPAL', 'PERMISSION', 'OPERATION', 'RESOURCE', 'PATTERN', 'NAME'];

const addAcl: Command = {
  words: ['acls', 'add'],
  args: [],
  summary: 'allow (or deny) an operation on a resource',
  description:
    'Adds an ACL, as kafka-acls --add does; adding one that exists changes nothing. READ, WRITE, DELETE and ALTER imply DESCRIBE. Needs ALTER on CLUSTER.',
  options: aclOptions,
  examples: [
    'tributary acls add --principal billing-service --operation write --topic billing- --prefixed',
    'tributary acls add --principal billing-service --operation read --group billing-workers',
    'tributary acls add --principal intern --operation delete --topic "*" --deny',
  ],
  async run({ flags, client }) {
    await client().acls.create(aclFrom(flags));
    return exitCodes.ok;
  },
};

const listAcls: Command = {
  words: ['acls', 'list'],
  args: [],
  summary: 'list ACLs',
  description: 'Prints every ACL, or those of one principal.',
  options: {
    principal: { type: 'string', value: '<name>', help: "only this principal's ACLs" },
    ...outputOption,
  },
  examples: [
    'tributary acls list',
    'tributary acls list --principal billing-service --output json',
  ],
  async run({ flags, client }) {
    const json = jsonOutput(flags);
    const principal = flags.string('principal');
    const acls = await client().acls.list(principal === undefined ? {} : { principal });
    await (json ? printJson(acls) : print(table([aclHeader, ...acls.map(aclRow)])));
    return exitCodes.ok;
  },
};

const removeAcl: Command = {
  words: ['acls', 'remove'],
  args: [],
  summary: 'remove an ACL',
  description: 'Removes the ACL given by the same flags it was added with. ACL_NOT_FOUND exits 3.',
  options: aclOptions,
  examples: [
    'tributary acls remove --principal billing-service --operation write --topic billing- --prefixed',
  ],
  async run({ flags, client }) {
    await client().acls.delete(aclFrom(flags));
    return exitCodes.ok;
  },
};

export const keyCommands: readonly Command[] = [createKey, listKeys, deleteKey];
export const aclCommands: readonly Command[] = [addAcl, listAcls, removeAcl];
