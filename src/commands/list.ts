import { counted } from '../core/counted.js';
import { UsageError } from '../core/errors.js';
import { seriesOf } from '../core/series.js';
import { isDeltaManifest } from '../archive/manifest.js';
import { formatBytes } from '../progress.js';
import { listClusters, type ClusterSummary } from '../ops/clusters.js';
import { listBackups, type ListedBackup } from '../ops/list.js';
import { openRepository } from '../ops/repository.js';
import { copiedText, onlyOtherCluster, otherClusters, unusableText, type BackupRepository, type UnusableBackup } from '../store/backup-repository.js';
import type { Store } from '../store/types.js';
import type { CommandContext } from './context.js';
import { seriesFlag } from './flags.js';
import { textTable } from './text-table.js';

/**
 * `reshifter list [--strategy S] [--json]`: the cluster's backups (of series S) and delta segments, newest first.
 * `--all-clusters`: the clusters in the store instead, with their newest backup and its age (the configured one marked `*`).
 */
export async function listCommand(ctx: CommandContext): Promise<void> {
  const repo = openRepository(ctx.config, ctx.log);
  try {
    if (ctx.args.flags['all-clusters'] === true) {
      if (ctx.args.flags.strategy !== undefined) throw new UsageError(['--strategy lists one series of one cluster: it does not go with --all-clusters']);
      const clusters = await listClusters(repo.store, { current: ctx.config.cluster, log: ctx.log });
      if (ctx.args.flags.json) ctx.print(JSON.stringify(clusters, null, 2));
      else for (const line of formatClusters(clusters, repo.store)) ctx.print(line);
      // What the store holds instead, as `list` says it (k3s's snapshot files, a folder that does not exist).
      const hint = clusters.length === 0 ? await repo.elsewhere() : '';
      if (ctx.args.flags.json) warnWhereElse(ctx, repo, [hint].filter((h) => h !== ''));
      else if (hint !== '') ctx.print(hint);
      return;
    }
    const series = seriesFlag(ctx);
    const unreadable: Array<{ key: string; error: string; cluster?: string }> = [];
    const lost: string[] = [];
    const unusable = (u: UnusableBackup) => lost.push(`backup ${u.id}: ${unusableText(u)} (retention keeps its manifest and counts it for no rule)`);
    const backups = await listBackups(repo, { log: ctx.log, unreadable: (bad) => unreadable.push(bad), unusable, ...(series !== undefined && { series }) });
    if (ctx.args.flags.json) {
      ctx.print(JSON.stringify(backups, null, 2));
      // stdout stays the array; where the backups are goes to stderr, as the text says it under "no backups".
      if (backups.length === 0 && series === undefined && unreadable.length === 0) warnWhereElse(ctx, repo, await whereElse(ctx, repo));
      return;
    }
    // A manifest that cannot be read hides its backup: said under the listing too, not only in the log.
    const unlisted = unreadable.map((bad) => `not listed: ${bad.key} cannot be read (${bad.error}); its artifact is kept`);
    if (backups.length === 0) {
      const of = series === undefined ? '' : ` of series "${series}"`;
      ctx.print(`no backups${of} of cluster "${ctx.config.cluster}" in ${repo.store.location}`);
      // Every manifest of another cluster: the folder is a copy of that cluster's under another name, said once.
      const owner = series === undefined ? onlyOtherCluster(unreadable) : undefined;
      if (owner !== undefined) return ctx.print(repo.copiedHere(owner, unreadable.length));
      for (const line of unlisted) ctx.print(line);
      if (series === undefined && unlisted.length === 0) for (const line of await whereElse(ctx, repo)) ctx.print(line);
      return;
    }
    const rows = [['ID', 'CREATED', 'STRATEGY', 'SIZE', 'REVISION', 'KEYS', 'ENCRYPTION']];
    for (const m of backups) {
      // A segment of continuous backups: the revisions it covers, its changes and the full backup it continues.
      if (isDeltaManifest(m)) rows.push([m.id, m.createdAt, `delta of ${m.base} (${counted(m.events, 'change')})`, formatBytes(m.sizeBytes), `${m.fromRevision}..${m.toRevision}`, '-', m.encryption]);
      else rows.push([m.id, m.createdAt, m.checkpoint || m.etcd?.apiVersion === 'v2' ? seriesOf(m) : m.strategy, formatBytes(m.sizeBytes), m.etcd ? String(m.etcd.revision) : '-', m.keys === undefined ? '-' : String(m.keys), m.encryption]);
    }
    for (const line of textTable(rows, rows[0]!.length)) ctx.print(line);
    const changed = backups.flatMap((m) =>
      m.etcdClusterChange === undefined
        ? []
        : [`backup ${m.id} is of etcd cluster ${m.etcd!.clusterId!}, another than that of the backup before it in its series (${m.etcdClusterChange.previousId}, cluster ${m.etcdClusterChange.previousClusterId}): retention counts each cluster's backups on their own`],
    );
    for (const line of [...unlisted, ...lost, ...changed, ...(series === undefined ? baseless(backups) : [])]) ctx.print(line);
  } finally {
    await repo.store.close();
  }
}

/**
 * The delta segments whose full backup the store no longer holds (deleted while `run` went on recording onto its
 * chain): listed like the others, they restore nothing, and are said to, once per missing base.
 */
function baseless(backups: readonly ListedBackup[]): string[] {
  const full = new Set(backups.filter((m) => !isDeltaManifest(m)).map((m) => m.id));
  const stranded = new Map<string, number>();
  for (const m of backups) if (isDeltaManifest(m) && !full.has(m.base)) stranded.set(m.base, (stranded.get(m.base) ?? 0) + 1);
  return [...stranded].map(
    ([base, n]) => `${counted(n, 'delta segment')} of the chain of ${base}, which is not in the store: ${n === 1 ? 'it restores' : 'they restore'} nothing (retention removes ${n === 1 ? 'it' : 'them'} once an hour old)`,
  );
}

/**
 * Where the backups are when the configured cluster has none, as far as the store shows it: other clusters' folders
 * (RS_CLUSTER_NAME set otherwise when they were taken), or what the repository says of a store without any cluster's
 * backups (a folder that does not exist, a cluster's folder named as the store, folders that are no cluster's).
 */
async function whereElse(ctx: CommandContext, repo: BackupRepository): Promise<string[]> {
  const others = (await listClusters(repo.store, { current: ctx.config.cluster, log: ctx.log })).map((c) => c.cluster);
  if (others.length > 0) return [(await repo.copiedTo(others)) ?? `${otherClusters(repo.store.location, others)} ("reshifter list --all-clusters" lists them)`];
  return [await repo.elsewhere()].filter((hint) => hint !== '');
}

/**
 * `list --json` that finds no backups: `[]` alone read as an empty store to a script or an operator, where the text
 * names a folder that does not exist or the cluster that holds the backups (RS_BACKUP_DIR or RS_CLUSTER_NAME mistyped).
 */
function warnWhereElse(ctx: CommandContext, repo: BackupRepository, hints: readonly string[]): void {
  if (hints.length > 0) ctx.log.warn({ cluster: ctx.config.cluster, store: repo.store.location, hint: hints.join('; ') }, 'list found no backups');
}

/** The clusters as a table, newest backup and age per cluster; `*` marks the configured one. */
export function formatClusters(clusters: readonly ClusterSummary[], store: Pick<Store, 'location' | 'localPath'>): string[] {
  if (clusters.length === 0) return [`no backups of any cluster in ${store.location}`];
  // The marker column keeps names aligned under the header; names and ids to the left, counts and ages to the right.
  const rows = [[' CLUSTER', 'NEWEST', 'CREATED', 'STRATEGY', 'BACKUPS', 'AGE']];
  for (const c of clusters) {
    const n = c.newest;
    rows.push([`${c.current ? '*' : ' '}${c.cluster}`, n?.id ?? '-', n?.createdAt ?? '-', n?.strategy ?? '-', String(c.backups), c.ageSeconds === undefined ? '-' : formatAge(c.ageSeconds)]);
  }
  // A folder whose backups are all another cluster's is no cluster of its own: said under the table, with the fix.
  const copies = clusters.flatMap((c) => (c.copyOf !== undefined ? [copiedText(store, c.cluster, c.copyOf, c.backups)] : []));
  return [...textTable(rows, 4), ...copies];
}

/** An age as operators read it at a glance: `45s`, `12m`, `5h3m`, `3d4h`. */
export function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}
