import type { Etcd3 } from 'etcd3';
import type { Config } from '../config/types.js';
import { createEtcdClient } from '../etcd/client.js';
import { BackupRepository } from '../store/backup-repository.js';
import { createStore } from '../store/create-store.js';

/** The configured store, scoped to the configured cluster. */
export function openRepository(config: Config): BackupRepository {
  return new BackupRepository(createStore(config.store), config.cluster);
}

/** Runs `fn` with an etcd v3 client and closes it afterwards. */
export async function withEtcd<T>(config: Config, fn: (etcd: Etcd3) => Promise<T>): Promise<T> {
  const etcd = createEtcdClient(config.etcd);
  try {
    return await fn(etcd);
  } finally {
    etcd.close();
  }
}
