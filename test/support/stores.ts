import type { MetadataStore } from '../../functions/core/ports/metadata-store.ts';

/**
 * The metadata store with `transact` replaced, so a test can make writes fail, or land and
 * lose their answers, as a network or a busy DynamoDB would. Everything else passes through.
 */
export function withTransact(
  metadata: MetadataStore,
  transact: MetadataStore['transact'],
): MetadataStore {
  return {
    get: (key) => metadata.get(key),
    getMany: (keys) => metadata.getMany(keys),
    query: (pk, options) => metadata.query(pk, options),
    deleteMany: (keys) => metadata.deleteMany(keys),
    transact,
  };
}
