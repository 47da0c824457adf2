import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import { BackupRepository } from '../store/backup-repository.js';
import { createStore } from '../store/create-store.js';

/** The configured store, scoped to the configured cluster. */
export function openRepository(config: Config, log?: Logger): BackupRepository {
  return new BackupRepository(createStore(config.store, log), config.cluster);
}
