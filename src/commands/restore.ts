import { resolve } from 'node:path';
import { counted } from '../core/counted.js';
import { unmatchedNamesText } from '../core/filter-matches.js';
import { etcdOf, isDeltaManifest, type Manifest } from '../archive/manifest.js';
import { CHECKPOINT_CONTENT_TYPE, KEY_DUMP_CONTENT_TYPE, SNAPSHOT_CONTENT_TYPE } from '../core/content-type.js';
import { ConfigError, OperationError, UsageError } from '../core/errors.js';
import { USES } from '../core/latest.js';
import { printable } from '../core/printable.js';
import { tookText } from '../core/rate-meter.js';
import { openRepository } from '../ops/repository.js';
import { restoreDataDir } from '../ops/restore-data-dir.js';
import { restoreImageArchive } from '../ops/restore-image.js';
import { restoreSnapshotFile, snapshotFileOfFile } from '../ops/restore-snapshot-file.js';
import { restoreBackupKeys, restoreGoBackupKeys, restoreGoZipKeys, restoreSnapshotFileKeys, type KeyRestoreReport } from '../ops/restore-keys.js';
import { isGoReshifterZip } from '../archive/go-reshifter-zip.js';
import { GO_BACKUP_ID } from '../ops/go-backup-file.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { nextStep, restorePoint, segmentRefusal } from './restore-point.js';
import { insteadOfLatest, laterChangesNote } from './restore-instead.js';
import { seriesFlag, stringFlag } from './flags.js';
import { wholeDumpNote } from '../ops/whole-dump-note.js';
import { latestClusterNote } from '../ops/cluster-change.js';
import { foreignCompression, isFile, nonSnapshotArtifact, reshifterArchiveFile, wrappingOf, type Wrapping } from '../ops/open-snapshot.js';
import { findRestoreTool } from '../etcd/snapshot-restore-tool.js';
import { textTable } from './text-table.js';

const SNAPSHOT_FLAGS = ['data-dir', 'name', 'initial-cluster', 'initial-advertise-peer-urls', 'initial-cluster-token', 'snapshot-file'] as const;
const MEMBER_FLAGS = ['data-dir', 'name', 'initial-cluster', 'initial-advertise-peer-urls', 'initial-cluster-token'] as const;
const DUMP_FLAGS = ['dry-run', 'skip-existing'] as const;
/** `reshifter_restore_total`'s outcome label (server/metrics.ts, loaded only to push: not imported here, even as a type). */
type RestoreOutcome = 'success' | 'failure';


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

/**
 * A one-off restore's metrics exist only to be pushed, as a backup's (backup.ts): without RS_PUSHGATEWAY_URL
 * prom-client is not loaded at all (~0.06 s of start-up before the first key is written).
 */
async function countRestore(ctx: CommandContext, outcome: RestoreOutcome): Promise<void> {
  const url = ctx.config.pushgatewayUrl;
  if (url === undefined) return;
  const [{ processMetrics, recordRestore }, { pushMetrics, pushGroupOf }] = await Promise.all([import('../server/metrics.js'), import('../server/pushgateway.js')]);
  const metrics = processMetrics();
  recordRestore(outcome, metrics);
  // A restore applies no retention: the gateway keeps the counts of the last backup's.
  await pushMetrics(url, metrics, pushGroupOf(ctx.config), ctx.log, { retentionRan: false });
}

async function restoreOnce(ctx: CommandContext, begun: () => void): Promise<void> {
  const { flags, positionals } = ctx.args;
  // One id, as the command table requires.
  const id = positionals[0]!;
  for (const f of SNAPSHOT_FLAGS) {
    if (flags[f] === true || flags[f] === '') throw new UsageError([`--${f} needs a value`]);
  }
  if (await isFile(id)) return restoreFile(ctx, id, begun);
  const repo = openRepository(ctx.config, ctx.log);
  try {
    if (flags['image-archive'] !== undefined || flags['image-name'] !== undefined) return await restoreImage(ctx, repo, id, begun);
    if (flags.to !== undefined && flags['snapshot-file'] !== undefined) {
      throw new UsageError(['--snapshot-file writes a snapshot backup as it was taken; --to replays the changes recorded after it, which --data-dir DIR and --keys do: give one of them with --to, or --snapshot-file without --to']);
    }
    if (GO_BACKUP_ID.test(id)) return await restoreGoBackup(ctx, repo, id, begun);
    // `--to`: a full backup and the changes recorded after it (continuous backups), up to a revision or a time.
    if (flags.to !== undefined) return await restorePoint(ctx, repo, id, begun, formatKeyRestore);
    // `latest` is the newest backup this form of restore can write: a snapshot with --data-dir or --keys, else a key dump.
    const wantsSnapshot = flags.keys === true || SNAPSHOT_FLAGS.some((f) => flags[f] !== undefined);
    const use = wantsSnapshot ? USES.restoreSnapshot : USES.restoreKeyDump;
    const m = await repo.getWhole(id, use, seriesFlag(ctx));
    try {
      return await restoreBackup(ctx, repo, m, begun);
    } catch (err) {
      throw await insteadOfLatest(ctx, repo, m, use, err);
    }
  } finally {
    await repo.store.close();
  }
}

/** Backup `m`, as its kind restores and the flags ask. */
async function restoreBackup(ctx: CommandContext, repo: BackupRepository, m: Manifest, begun: () => void): Promise<void> {
  if (m.contentType === SNAPSHOT_CONTENT_TYPE && ctx.args.flags.keys === true) return restoreKeysOf(ctx, repo, m, SNAPSHOT_FLAGS, begun);
  if (m.contentType === SNAPSHOT_CONTENT_TYPE) return restoreSnapshot(ctx, repo, m, begun);
  if (m.contentType === KEY_DUMP_CONTENT_TYPE) return restoreKeysOf(ctx, repo, m, SNAPSHOT_FLAGS, begun);
  if (m.contentType === CHECKPOINT_CONTENT_TYPE) throw new ConfigError([`backup ${m.id} is a container checkpoint: restore it as an OCI image with --image-archive FILE [--image-name NAME]`]);
  if (isDeltaManifest(m)) throw segmentRefusal(m, String(m.toRevision));
  throw new OperationError(`backup ${m.id} is a ${m.strategy} listing (${m.contentType}), which cannot be restored; only snapshots and key dumps (raw, filter:) can`);
}

/**
 * A snapshot file on this machine (`etcdctl snapshot save`'s, k3s's, an artifact copied out of the store): its live
 * keys into the etcd at RS_ETCD_ENDPOINTS with --keys, as a snapshot backup's. A new data directory from a file is
 * etcd's own `snapshot restore`, named rather than done.
 */
async function restoreFile(ctx: CommandContext, path: string, begun: () => void): Promise<void> {
  const { flags } = ctx.args;
  if (await isGoReshifterZip(path)) return restoreGoZip(ctx, path, begun);
  if (flags['snapshot-file'] !== undefined && flags.keys !== true) return writeSnapshotFileOfFile(ctx, path, begun);
  // A key dump's artifact copied out of the store is no snapshot: etcd's snapshot restore of it would be no advice.
  if (flags.keys !== true) {
    const dataDir = typeof flags['data-dir'] === 'string' ? flags['data-dir'] : 'DIR';
    throw new UsageError([nonSnapshotArtifact(path) ?? (await reshifterArchiveFile(path, ctx.config)) ?? (await fileRestoreHint(path, dataDir))]);
  }
  const extra = given(ctx, [...SNAPSHOT_FLAGS, 'strategy', 'to', 'image-archive', 'image-name']);
  if (extra !== undefined) throw new UsageError([`${extra} cannot be combined with a snapshot file and --keys, which writes its keys into the etcd at RS_ETCD_ENDPOINTS`]);
  begun();
  const report = await restoreSnapshotFileKeys(ctx, path, { dryRun: flags['dry-run'] === true, skipExisting: flags['skip-existing'] === true });
  if (flags.json) ctx.print(JSON.stringify(report));
  else for (const line of [`snapshot file ${printable(path)}`, ...formatKeyRestore(report)]) ctx.print(line);
}

/** A snapshot file (a k3s zip, compressed or encrypted) as the plain snapshot file `etcdctl snapshot save` writes. */
async function writeSnapshotFileOfFile(ctx: CommandContext, path: string, begun: () => void): Promise<void> {
  const extra = given(ctx, [...MEMBER_FLAGS, ...DUMP_FLAGS, 'strategy', 'to', 'image-archive', 'image-name']);
  if (extra !== undefined) throw new UsageError([`${extra} cannot be combined with a snapshot file and --snapshot-file, which writes it as the plain snapshot file etcdctl snapshot save writes`]);
  const artifact = nonSnapshotArtifact(path);
  if (artifact !== undefined) throw new UsageError([artifact]);
  begun();
  const report = await snapshotFileOfFile(ctx, path, stringFlag(ctx, 'snapshot-file')!);
  if (ctx.args.flags.json) return ctx.print(JSON.stringify(report));
  ctx.print(`wrote snapshot file ${printable(path)} (revision ${report.revision}) to ${report.file} (${report.bytes} bytes, as "etcdctl snapshot save" writes it)`);
  const tool = await findRestoreTool().then((t) => t.command, () => 'etcdutl');
  ctx.print(`next: k3s server --cluster-reset --cluster-reset-restore-path=${report.file} (k3s), or ${tool} snapshot restore ${report.file} --data-dir DIR`);
}

/**
 * A backup of the Go Reshifter, a file (`restore 1498050161.zip`) or by its id at the root of the store (`restore
 * 1498050161`): its keys into the etcd at RS_ETCD_ENDPOINTS, as a key dump's (`--keys` or not).
 */
async function restoreGoZip(ctx: CommandContext, path: string, begun: () => void): Promise<void> {
  goZipFlags(ctx, path);
  begun();
  printGoRestore(ctx, await restoreGoZipKeys(ctx, path, goZipOptions(ctx)));
}

async function restoreGoBackup(ctx: CommandContext, repo: BackupRepository, id: string, begun: () => void): Promise<void> {
  goZipFlags(ctx, id);
  begun();
  printGoRestore(ctx, await restoreGoBackupKeys(ctx, repo.store, id, goZipOptions(ctx)));
}

function goZipFlags(ctx: CommandContext, what: string): void {
  const extra = given(ctx, [...SNAPSHOT_FLAGS, 'strategy', 'to', 'image-archive', 'image-name']);
  if (extra !== undefined) throw new UsageError([`${extra} cannot be combined with a backup of the Go Reshifter (${printable(what)}), whose keys are written into the etcd at RS_ETCD_ENDPOINTS`]);
}

function goZipOptions(ctx: CommandContext): { dryRun: boolean; skipExisting: boolean } {
  return { dryRun: ctx.args.flags['dry-run'] === true, skipExisting: ctx.args.flags['skip-existing'] === true };
}

function printGoRestore(ctx: CommandContext, report: KeyRestoreReport): void {
  if (ctx.args.flags.json) ctx.print(JSON.stringify(report));
  else for (const line of [`backup ${report.id} of the Go Reshifter (${printable(report.file ?? report.id)})`, ...formatKeyRestore(report)]) ctx.print(line);
}

/** How to decode a wrapped snapshot file into snapshot.db, by what wraps it. */
const DECODE: Readonly<Record<Wrapping, (file: string) => string>> = {
  zip: (f) => `unzip -p ${f} > snapshot.db`,
  gzip: (f) => `gunzip -c ${f} > snapshot.db`,
  zstd: (f) => `zstd -d ${f} -o snapshot.db`,
  age: (f) => (f.endsWith('.gz.age') ? `age -d -i KEY ${f} | gunzip > snapshot.db` : f.endsWith('.zst.age') ? `age -d -i KEY ${f} | zstd -d -o snapshot.db` : `age -d -i KEY ${f} > snapshot.db`),
  'age-armor': (f) => `age -d -i KEY ${f} > snapshot.db`,
};

/**
 * `restore FILE` without --keys: what restores a snapshot file, as this machine can run it. A new data directory is
 * etcd's own `snapshot restore` with the tool installed here (etcdutl, or etcdctl 3.4/3.5: Debian's etcd has no
 * etcdutl), of the file itself or, when it is a k3s zip, compressed or encrypted, of what decoding it gives.
 */
async function fileRestoreHint(path: string, dataDir: string): Promise<string> {
  const [wrapping, tool] = await Promise.all([
    wrappingOf(path).catch(() => undefined),
    findRestoreTool().then((t) => t.command, () => 'etcdutl'),
  ]);
  // xz, bzip2, lz4: reshifter reads none of them; what decompresses it, then what restores the plain file.
  const foreign = wrapping === undefined ? await foreignCompression(path, path).catch(() => undefined) : undefined;
  if (foreign !== undefined) {
    return `${foreign}: "${tool} snapshot restore snapshot.db --data-dir ${dataDir}" restores that into a new data directory, "reshifter restore snapshot.db --keys" its live keys into the etcd at RS_ETCD_ENDPOINTS`;
  }
  const file = wrapping === undefined ? path : 'snapshot.db';
  const decode = wrapping === undefined ? '' : `"${DECODE[wrapping](path)}", then `;
  // Absolute: k3s resolves a relative path from where it runs, not from the operator's shell.
  const k3s =
    wrapping === undefined
      ? ` (on k3s: "k3s server --cluster-reset --cluster-reset-restore-path=${resolve(path)}")`
      : ` (on k3s: "reshifter restore ${path} --snapshot-file FILE" writes the plain file that "k3s server --cluster-reset --cluster-reset-restore-path=FILE" takes)`;
  return (
    `${path} is a file: "reshifter restore ${path} --keys" writes the live keys of a snapshot file into the etcd at RS_ETCD_ENDPOINTS ` +
    `(--dry-run, RS_INCLUDE_NAMESPACES...); a new data directory from a file is ${decode}"${tool} snapshot restore ${file} --data-dir ${dataDir}"${k3s}, ` +
    `and backups in the store are restored by id ("reshifter list" shows them)`
  );
}

/** A container checkpoint as an OCI image archive (`--image-archive FILE [--image-name NAME]`). */
async function restoreImage(ctx: CommandContext, repo: BackupRepository, id: string, begun: () => void): Promise<void> {
  const path = stringFlag(ctx, 'image-archive');
  if (path === undefined || path === '') throw new ConfigError(['--image-name goes with --image-archive FILE, where the image archive is written']);
  const extra = given(ctx, [...SNAPSHOT_FLAGS, ...DUMP_FLAGS, 'keys']);
  if (extra !== undefined) throw new ConfigError([`${extra} cannot be combined with --image-archive, which writes a container checkpoint as an OCI image archive`]);
  const imageName = stringFlag(ctx, 'image-name');
  const m = await repo.getWhole(id, USES.restoreImage, seriesFlag(ctx));
  begun();
  const report = await restoreImageArchive(ctx, repo, m, { path, ...(imageName !== undefined && { imageName }) });
  if (ctx.args.flags.json) ctx.print(JSON.stringify(report));
  else {
    ctx.print(`wrote checkpoint ${report.id} of ${report.container} as an OCI image archive: ${report.path} (layer sha256:${report.layerDigest}, ${report.bytes} bytes)`);
    ctx.print(`next: skopeo copy oci-archive:${report.path} docker://<registry>/<name>:<tag>, then a pod with that image on a node with CRI-O and CRIU`);
  }
}

/** The flags of `refused` that were given, as `--a, --b`. */
function given(ctx: CommandContext, refused: readonly string[]): string | undefined {
  const extra = refused.filter((f) => ctx.args.flags[f] !== undefined);
  return extra.length > 0 ? extra.map((f) => `--${f}`).join(', ') : undefined;
}

/** The verb for flags as `given` lists them: `--data-dir applies`, `--name, --data-dir apply`. */
function applies(flags: string): string {
  return flags.includes(', ') ? 'apply' : 'applies';
}

/** A key dump, or a snapshot's live keys (`--keys`), into the etcd at RS_ETCD_ENDPOINTS. */
async function restoreKeysOf(ctx: CommandContext, repo: BackupRepository, m: Manifest, refused: readonly string[], begun: () => void): Promise<void> {
  const extra = given(ctx, refused);
  if (extra !== undefined) {
    throw new UsageError([
      m.contentType === SNAPSHOT_CONTENT_TYPE
        ? `${extra} cannot be combined with --keys, which writes the snapshot's keys into the etcd at RS_ETCD_ENDPOINTS`
        : `${extra} ${applies(extra)} to snapshots; backup ${m.id} is a key dump (${m.strategy}), restored into the etcd at RS_ETCD_ENDPOINTS`,
    ]);
  }
  begun();
  const { flags } = ctx.args;
  const asked = ctx.args.positionals[0] === 'latest' && seriesFlag(ctx) === undefined;
  const whole = asked ? await wholeDumpNote(repo, m, (w, series) => `restore it with "reshifter restore ${w.id}" (or latest --strategy ${series})`) : undefined;
  if (whole !== undefined) ctx.log.warn({ id: m.id, strategy: m.strategy, note: whole }, m.strategy.startsWith('filter:') ? 'latest is a filter: key dump, not every resource' : "latest is a dump of etcd's v2 keyspace");
  const cluster = await clusterNote(ctx, repo, m);
  const report = await restoreBackupKeys(ctx, repo, m, { dryRun: flags['dry-run'] === true, skipExisting: flags['skip-existing'] === true });
  if (flags.json) ctx.print(JSON.stringify({ ...report, ...(whole !== undefined && { note: whole }), ...(cluster !== undefined && { clusterNote: cluster }) }));
  else for (const line of [backupLine(m), ...[whole, cluster].flatMap((n) => (n !== undefined ? [`note: ${n}`] : [])), ...formatKeyRestore(report)]) ctx.print(line);
}

/**
 * A restore of `latest` whose backup is of another etcd cluster than the backup before it in its series (endpoints of
 * another cluster, a restored cluster): which cluster it restores and how to restore the other; warned before it starts.
 */
async function clusterNote(ctx: CommandContext, repo: BackupRepository, m: Manifest): Promise<string | undefined> {
  if (ctx.args.positionals[0] !== 'latest') return undefined;
  const note = await latestClusterNote(repo, m, (other) => `name its newest backup: "reshifter restore ${other.id}" with the same flags`);
  if (note !== undefined) ctx.log.warn({ id: m.id, clusterId: m.etcd?.clusterId, note }, 'latest is a backup of another etcd cluster than the backup before it');
  return note;
}

/**
 * Which backup a restore read, first: `latest` picks one, and a `filter:` dump holds only what it selected, a v2 dump
 * only etcd's v2 keyspace, so a restore of it is not the whole cluster.
 */
function backupLine(m: Manifest): string {
  const partial = m.strategy.startsWith('filter:') ? ': it holds only the resources its filter selected' : '';
  const v2 = etcdOf(m).apiVersion === 'v2' ? `${partial === '' ? ':' : ';'} it holds etcd's v2 keyspace` : '';
  return `backup ${m.id} (${m.strategy}, revision ${etcdOf(m).revision}, taken ${m.createdAt})${partial}${v2}`;
}

/** A snapshot into a new data directory (`--data-dir`), with etcdutl. */
async function restoreSnapshot(ctx: CommandContext, repo: BackupRepository, m: Manifest, begun: () => void): Promise<void> {
  const { flags } = ctx.args;
  const str = (f: string) => (typeof flags[f] === 'string' ? (flags[f] as string) : undefined);
  const dataDir = str('data-dir');
  const extra = given(ctx, DUMP_FLAGS);
  if (extra !== undefined) {
    throw new UsageError([`${extra} ${applies(extra)} to key dumps and to --keys; backup ${m.id} is an etcd snapshot (restore it with --data-dir DIR, or its keys into a running etcd with --keys)`]);
  }
  const snapshotFile = str('snapshot-file');
  if (snapshotFile !== undefined) return writeSnapshotFile(ctx, repo, m, snapshotFile, begun);
  if (dataDir === undefined) {
    throw new UsageError([
      `backup ${m.id} is an etcd snapshot: restore it into a new data directory with --data-dir DIR (see "Disaster recovery" in the docs), ` +
        `or write it as a plain snapshot file with --snapshot-file FILE (for k3s's --cluster-reset-restore-path), or its keys into the running etcd at RS_ETCD_ENDPOINTS with --keys`,
    ]);
  }
  const [name, initialCluster, peerUrls, token] = [str('name'), str('initial-cluster'), str('initial-advertise-peer-urls'), str('initial-cluster-token')];
  begun();
  const later = await laterChangesNote(ctx, repo, m);
  if (later !== undefined) ctx.log.warn({ id: m.id, note: later }, 'changes were recorded after this snapshot: the restore holds the state it was taken at');
  const cluster = await clusterNote(ctx, repo, m);
  const report = await restoreDataDir(ctx, repo, m, {
    dataDir,
    ...(name !== undefined && { name }),
    ...(initialCluster !== undefined && { initialCluster }),
    ...(peerUrls !== undefined && { initialAdvertisePeerUrls: peerUrls }),
    ...(token !== undefined && { initialClusterToken: token }),
  });
  if (flags.json) ctx.print(JSON.stringify({ ...report, ...(later !== undefined && { note: later }), ...(cluster !== undefined && { clusterNote: cluster }) }));
  else {
    ctx.print(`restored snapshot ${report.id} (revision ${report.revision}) into ${report.dataDir} with ${report.tool.command} ${report.tool.version}`);
    if (later !== undefined) ctx.print(`note: ${later}`);
    if (cluster !== undefined) ctx.print(`note: ${cluster}`);
    if (report.warning !== undefined) ctx.print(`warning: ${report.warning}`);
    ctx.print(nextStep(report.dataDir, { name, initialCluster, initialAdvertisePeerUrls: peerUrls, initialClusterToken: token }, m.etcd?.members));
  }
}

/** A snapshot backup as a plain snapshot file (`--snapshot-file FILE`): what k3s's --cluster-reset-restore-path and etcdutl take. */
async function writeSnapshotFile(ctx: CommandContext, repo: BackupRepository, m: Manifest, path: string, begun: () => void): Promise<void> {
  const extra = given(ctx, MEMBER_FLAGS);
  if (extra !== undefined) {
    throw new UsageError([`${extra} cannot be combined with --snapshot-file, which writes the snapshot as a file; a new data directory from it is "etcdutl snapshot restore FILE --data-dir DIR" (or restore the backup with --data-dir instead)`]);
  }
  begun();
  const later = await laterChangesNote(ctx, repo, m, 'file');
  if (later !== undefined) ctx.log.warn({ id: m.id, note: later }, 'changes were recorded after this snapshot: the file holds the state it was taken at');
  const cluster = await clusterNote(ctx, repo, m);
  const report = await restoreSnapshotFile(ctx, repo, m, path);
  if (ctx.args.flags.json) return ctx.print(JSON.stringify({ ...report, ...(later !== undefined && { note: later }), ...(cluster !== undefined && { clusterNote: cluster }) }));
  ctx.print(`wrote snapshot ${report.id} (revision ${report.revision}) to ${report.file} (${report.bytes} bytes, as "etcdctl snapshot save" writes it)`);
  for (const note of [later, cluster]) if (note !== undefined) ctx.print(`note: ${note}`);
  const tool = await findRestoreTool().then((t) => t.command, () => 'etcdutl');
  ctx.print(`next: k3s server --cluster-reset --cluster-reset-restore-path=${report.file} (k3s), or ${tool} snapshot restore ${report.file} --data-dir DIR`);
}

/** The report as text: the plan table, then a summary line. */
export function formatKeyRestore(r: KeyRestoreReport): string[] {
  const rows = [['RESOURCE', 'CREATE', 'UPDATE', 'UNCHANGED', 'SKIPPED']];
  for (const p of r.resources) rows.push([p.resource, String(p.create), String(p.update), String(p.unchanged), String(p.skipped)]);
  const t = r.totals;
  rows.push(['TOTAL', String(t.create), String(t.update), String(t.unchanged), String(t.skipped)]);
  const lines = textTable(rows);
  // Filtered by what: the settings, as a restore with another job's environment (its filter:) is filtered by them.
  const by = (why: string) => (why === 'filtered' && r.filters !== undefined ? ` (by ${r.filters.join(', ')})` : '');
  const skipped = Object.entries(t.skippedBy).filter(([, n]) => n > 0).map(([why, n]) => `${n} ${why}${by(why)}`).join('; ');
  if (skipped) lines.push(`skipped: ${skipped}`);
  // A filter entry that matched nothing is nearly always a typo (tema-2): the rest was restored, that part was not.
  for (const u of r.unmatchedFilters) {
    const names = unmatchedNamesText(u);
    const of = r.file === undefined ? `backup ${r.id} (named as etcd stores them; "reshifter stats ${r.id}" lists them)` : `${r.file} (named as etcd stores them; "reshifter inspect ${r.file} --keys" lists them)`;
    lines.push(`note: ${u.variable} names ${names}, which match${u.names.length === 1 ? 'es' : ''} no key of ${of}`);
  }
  const where = `${r.target.endpoints.join(',')} (${r.target.apiVersion})`;
  lines.push(
    r.dryRun
      ? `dry run: would write ${t.create + t.update} of ${counted(t.keys, 'key')} into ${where}; nothing was written`
      : `restored ${counted(r.written, 'key')} into ${where} ${tookText(r.durationMs, r.written, 'keys')}`,
  );
  return lines;
}
