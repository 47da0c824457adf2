import type { Etcd3 } from 'etcd3';
import type { Config } from '../config/types.js';
import { ConfigError, OperationError } from '../core/errors.js';
import { formatStrategy, type StrategySpec } from '../core/strategy.js';
import { resolveApiVersion } from '../etcd/api-version.js';
import { snapshotSource } from '../etcd/snapshot-source.js';
import type { BackupSource } from '../etcd/source.js';
import { V2Client } from '../etcd/v2-client.js';
import type { AuditRow } from '../kube/audit-row.js';
import type { Logger } from '../log.js';

/**
 * The strategy to use: the override, RS_BACKUP_STRATEGY, or the default for the endpoint: `snapshot` on v3, `raw`
 * on v2 (a snapshot holds only the v3 keyspace: one asked for on v2 is refused before it is taken, see refuseV2Only).
 * Either way etcd's keyspaces are looked at once per backup.
 */
export async function resolveStrategy(config: Config, etcd: Etcd3, log: Logger, override?: StrategySpec): Promise<StrategySpec> {
  const chosen = override ?? config.strategy;
  if (chosen?.kind === 'snapshot') await refuseV2Only(config, etcd, log);
  if (chosen) return chosen;
  if (config.etcd.apiVersion !== 'auto') return { kind: config.etcd.apiVersion === 'v2' ? 'raw' : 'snapshot' };
  const v2 = new V2Client(config.etcd);
  try {
    return (await resolveApiVersion(config.etcd, etcd, v2, config.selection.prefixes, (f, m) => log.warn(f, m))) === 'v2' ? { kind: 'raw' } : { kind: 'snapshot' };
  } catch {
    // Probing failed (a user allowed snapshots but not reads, say): the snapshot itself will say what is wrong.
    return { kind: 'snapshot' };
  } finally {
    v2.close();
  }
}

/**
 * Opens the byte stream of a strategy; `onRenderRow` hears each row of a `render` listing as it is read. The code of
 * key dumps and listings is loaded only for them: a snapshot backup, the common one, starts without it (issue #16).
 */
export async function openSource(strategy: StrategySpec, config: Config, etcd: Etcd3, log: Logger, onRenderRow?: (row: AuditRow) => Promise<void> | void): Promise<BackupSource> {
  switch (strategy.kind) {
    case 'snapshot':
      if (config.etcd.apiVersion === 'v2') {
        throw new ConfigError(['RS_BACKUP_STRATEGY=snapshot reads the v3 keyspace only, but RS_ETCD_API_VERSION is v2: use raw (or filter:...) for v2 data']);
      }
      return snapshotSource(config.etcd, log);
    case 'raw':
    case 'filter':
    case 'render':
      return keySource(strategy, config, etcd, log, onRenderRow);
    case 'checkpoint':
      // Checkpoints read no etcd: ops/checkpoint-backup.ts takes them, one backup per container.
      throw new OperationError('a checkpoint backup is not an etcd source (this is a bug: it is taken by checkpointBackups)');
  }
}

/** The source of a key dump (`raw`, `filter:...`) or of a `render` listing. */
async function keySource(
  strategy: StrategySpec & { kind: 'raw' | 'filter' | 'render' },
  config: Config,
  etcd: Etcd3,
  log: Logger,
  onRenderRow?: (row: AuditRow) => Promise<void> | void,
): Promise<BackupSource> {
  const [{ FilterMatches }, { buildSelection }] = await Promise.all([import('../core/filter-matches.js'), import('../core/key-selection.js')]);
  if (strategy.kind === 'render') {
    const { renderSource } = await import('../etcd/render-source.js');
    return renderSource(config, etcd, log, buildSelection(config.selection), onRenderRow, new FilterMatches(config.selection));
  }
  const { keyDumpSource } = await import('../etcd/key-dump-source.js');
  if (strategy.kind === 'raw') return keyDumpSource(config, etcd, log, buildSelection(config.selection), new FilterMatches(config.selection));
  const matches = new FilterMatches(config.selection, [{ variable: formatStrategy(strategy), names: [...strategy.resources] }]);
  return keyDumpSource(config, etcd, log, buildSelection(config.selection, strategy.resources), matches);
}

/**
 * With RS_ETCD_API_VERSION=auto, a snapshot asked for by name (RS_BACKUP_STRATEGY, --strategy; a default one is
 * chosen by this same look) of an etcd whose Kubernetes keys are all in its v2 keyspace (a 1.5-era cluster on etcd 3
 * with --enable-v2) would hold none of them: refused before it is taken (exit 2, before any work), as with
 * RS_ETCD_API_VERSION=v2. A probe that fails lets the snapshot be: the snapshot itself says what is wrong.
 */
async function refuseV2Only(config: Config, etcd: Etcd3, log: Logger): Promise<void> {
  if (config.etcd.apiVersion !== 'auto') return;
  const v2 = new V2Client(config.etcd);
  try {
    const api = await resolveApiVersion(config.etcd, etcd, v2, config.selection.prefixes, (f, m) => log.warn(f, m)).catch(() => 'v3');
    if (api === 'v2') {
      throw new ConfigError([
        `RS_BACKUP_STRATEGY=snapshot reads the v3 keyspace only, but the Kubernetes keys of ${config.etcd.endpoints.join(',')} are in its v2 keyspace: ` +
          'a snapshot would hold none of them, so none was taken; use raw (or filter:...) for v2 data',
      ]);
    }
  } finally {
    v2.close();
  }
}
