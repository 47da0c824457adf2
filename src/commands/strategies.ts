import type { Etcd3 } from 'etcd3';
import type { Config } from '../config/types.js';
import { OperationError } from '../core/errors.js';
import { formatStrategy, type StrategySpec } from '../core/strategy.js';
import { snapshotSource } from '../etcd/snapshot-source.js';
import type { BackupSource } from '../etcd/source.js';
import type { Logger } from '../log.js';

/** The strategy to use: the override, RS_BACKUP_STRATEGY, or the default for the endpoint (snapshot on v3). */
export async function resolveStrategy(config: Config, _etcd: Etcd3, override?: StrategySpec): Promise<StrategySpec> {
  return override ?? config.strategy ?? { kind: 'snapshot' };
}

/** Opens the byte stream of a strategy. */
export async function openSource(strategy: StrategySpec, config: Config, etcd: Etcd3, _log: Logger): Promise<BackupSource> {
  switch (strategy.kind) {
    case 'snapshot':
      return snapshotSource(etcd, config.etcd);
    default:
      throw new OperationError(`strategy "${formatStrategy(strategy)}" is not implemented yet`);
  }
}
