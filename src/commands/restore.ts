import { KEY_DUMP_CONTENT_TYPE } from '../archive/key-dump-format.js';
import { ConfigError, OperationError } from '../core/errors.js';
import { USES } from '../core/latest.js';
import type { CommandContext } from './context.js';
import { formatKeyRestore, restoreKeyDump } from './restore-keys.js';
import { restoreSnapshot } from './restore-snapshot.js';
import { restoreSnapshotKeys } from './restore-snapshot-keys.js';
import { seriesFlag } from './series-flag.js';
import { openRepository } from './shared.js';
import { processMetrics, recordRestore, type RestoreOutcome } from '../server/metrics.js';
import { pushMetrics } from '../server/pushgateway.js';

const SNAPSHOT_FLAGS = ['data-dir', 'name', 'initial-cluster', 'initial-advertise-peer-urls', 'initial-cluster-token'] as const;
const DUMP_FLAGS = ['dry-run', 'skip-existing'] as const;

/**
 * `reshifter restore <id>|latest [--strategy S]`: from any store. A key dump is written into the etcd at
 * RS_ETCD_ENDPOINTS (`--dry-run`, `--skip-existing`, RS_INCLUDE_/EXCLUDE_* filters); a snapshot becomes a new data
 * directory (`--data-dir DIR [--name --initial-cluster --initial-advertise-peer-urls --initial-cluster-token]`), or
 * with `--keys` has its live keys written into the running etcd as a key dump would be. `latest` is the newest
 * backup the form given can restore (of series S): a snapshot with --data-dir or --keys, a key dump without.
 */
export async function restoreCommand(ctx: CommandContext): Promise<void> {
  // Counted once a restore has begun (usage errors and dry runs are not restores), and pushed as `backup` pushes.
  let begun = false;
  const count = ctx.args.flags['dry-run'] === true ? undefined : (outcome: RestoreOutcome) => begun && countRestore(ctx, outcome);
  try {
    await restoreOnce(ctx, () => (begun = true));
  } catch (err) {
    await count?.('failure');
    throw err;
  }
  await count?.('success');
}

async function countRestore(ctx: CommandContext, outcome: RestoreOutcome): Promise<void> {
  const metrics = processMetrics();
  recordRestore(outcome, metrics);
  const url = ctx.config.pushgatewayUrl;
  if (url !== undefined) await pushMetrics(url, metrics, { cluster: ctx.config.cluster }, ctx.log);
}

async function restoreOnce(ctx: CommandContext, begun: () => void): Promise<void> {
  const { flags, positionals } = ctx.args;
  const id = positionals[0];
  if (id === undefined) throw new ConfigError(['restore needs the id of a backup (or "latest"): reshifter restore <id>; "reshifter list" shows them']);
  if (positionals.length > 1) throw new ConfigError([`restore takes one backup id, got ${positionals.length}: ${positionals.join(' ')}`]);
  for (const f of SNAPSHOT_FLAGS) {
    if (flags[f] === true || flags[f] === '') throw new ConfigError([`--${f} needs a value`]);
  }
  const str = (f: string) => (typeof flags[f] === 'string' ? (flags[f] as string) : undefined);
  const repo = openRepository(ctx.config, ctx.log);
  try {
    // `latest` is the newest backup this form of restore can write: a snapshot with --data-dir or --keys, else a key dump.
    const wantsSnapshot = flags.keys === true || SNAPSHOT_FLAGS.some((f) => flags[f] !== undefined);
    const m = await repo.get(id, wantsSnapshot ? USES.restoreSnapshot : USES.restoreKeyDump, seriesFlag(ctx));
    if (m.contentType === 'etcd-snapshot' && flags.keys === true) {
      const extra = SNAPSHOT_FLAGS.filter((f) => flags[f] !== undefined);
      if (extra.length > 0) throw new ConfigError([`${extra.map((f) => `--${f}`).join(', ')} cannot be combined with --keys, which writes the snapshot's keys into the etcd at RS_ETCD_ENDPOINTS`]);
      begun();
      const report = await restoreSnapshotKeys(ctx, repo, m, { dryRun: flags['dry-run'] === true, skipExisting: flags['skip-existing'] === true });
      if (flags.json) ctx.print(JSON.stringify(report));
      else for (const line of formatKeyRestore(report)) ctx.print(line);
      return;
    }
    if (m.contentType === 'etcd-snapshot') {
      const dataDir = str('data-dir');
      const extra = DUMP_FLAGS.filter((f) => flags[f] !== undefined);
      if (extra.length > 0) throw new ConfigError([`${extra.map((f) => `--${f}`).join(', ')} apply to key dumps and to --keys; backup ${m.id} is an etcd snapshot (restore it with --data-dir DIR, or its keys into a running etcd with --keys)`]);
      if (dataDir === undefined) {
        throw new ConfigError([`backup ${m.id} is an etcd snapshot: restore it into a new data directory with --data-dir DIR (see "Disaster recovery" in the docs)`]);
      }
      const name = str('name');
      const initialCluster = str('initial-cluster');
      const peerUrls = str('initial-advertise-peer-urls');
      const token = str('initial-cluster-token');
      begun();
      const report = await restoreSnapshot(ctx, repo, m, {
        dataDir,
        ...(name !== undefined && { name }),
        ...(initialCluster !== undefined && { initialCluster }),
        ...(peerUrls !== undefined && { initialAdvertisePeerUrls: peerUrls }),
        ...(token !== undefined && { initialClusterToken: token }),
      });
      if (flags.json) ctx.print(JSON.stringify(report));
      else {
        ctx.print(`restored snapshot ${report.id} (revision ${report.revision}) into ${report.dataDir} with ${report.tool.command} ${report.tool.version}`);
        ctx.print(`next: start etcd with --data-dir ${report.dataDir} and the same --name / --initial-cluster as given here`);
      }
      return;
    }
    if (m.contentType === KEY_DUMP_CONTENT_TYPE) {
      const extra = SNAPSHOT_FLAGS.filter((f) => flags[f] !== undefined);
      if (extra.length > 0) {
        throw new ConfigError([`${extra.map((f) => `--${f}`).join(', ')} apply to snapshots; backup ${m.id} is a key dump (${m.strategy}), restored into the etcd at RS_ETCD_ENDPOINTS`]);
      }
      begun();
      const report = await restoreKeyDump(ctx, repo, m, { dryRun: flags['dry-run'] === true, skipExisting: flags['skip-existing'] === true });
      if (flags.json) ctx.print(JSON.stringify(report));
      else for (const line of formatKeyRestore(report)) ctx.print(line);
      return;
    }
    throw new OperationError(`backup ${m.id} is a ${m.strategy} listing (${m.contentType}), which cannot be restored; only snapshots and key dumps (raw, filter:) can`);
  } finally {
    await repo.store.close();
  }
}
