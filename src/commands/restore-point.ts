import { isDeltaManifest, type DeltaManifest, type EtcdMember } from '../archive/manifest.js';
import { KEY_DUMP_CONTENT_TYPE, SNAPSHOT_CONTENT_TYPE } from '../core/content-type.js';
import { counted } from '../core/counted.js';
import { NoBaseOfKindError, TargetNotRecordedError, parseTarget, type Target } from '../core/delta-chain.js';
import { ConfigError, IntegrityError, OperationError, RefusedError } from '../core/errors.js';
import { printable } from '../core/printable.js';
import { USES, type BackupUse } from '../core/latest.js';
import { seriesOf } from '../core/series.js';
import { latestClusterNote } from '../ops/cluster-change.js';
import { filterBaseNote, refuseStranded, resolvePoint, type PointReport, type PointResolution } from '../ops/restore-point.js';
import { restorePointDataDir } from '../ops/restore-point-data-dir.js';
import { restorePointKeys, type PointKeysReport } from '../ops/restore-point-keys.js';
import type { KeyRestoreReport } from '../ops/restore-keys.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { seriesFlag } from './flags.js';
import { restoreCommandFor, shellWord } from './shell-command.js';

/** `restore` flags that name the new member of a snapshot restored into a data dir. */
const MEMBER_FLAGS = ['name', 'initial-cluster', 'initial-advertise-peer-urls', 'initial-cluster-token'] as const;

/** The form a restore takes: into a new data dir, or keys into the etcd at RS_ETCD_ENDPOINTS. */
type Form = 'data-dir' | 'keys';

/**
 * `restore <id>|latest --to <revision>|<RFC 3339 time>|latest`: a full backup and the changes recorded after it, up to
 * the target. A snapshot base goes into a new data dir (`--data-dir`, the member flags) or, with `--keys`, into the
 * running etcd; a key dump base into the running etcd. `latest` is the newest full backup at or before the target.
 */
export async function restorePoint(ctx: CommandContext, repo: BackupRepository, id: string, begun: () => void, planText: (r: KeyRestoreReport) => string[]): Promise<void> {
  const { flags } = ctx.args;
  const to = flags.to;
  if (typeof to !== 'string' || to === '') throw new ConfigError(['--to needs a value: a revision (like 5310), an RFC 3339 time (like 2026-11-22T14:05:00Z) or "latest"']);
  let target: Target;
  try {
    target = parseTarget(to);
  } catch (err) {
    throw new ConfigError([`--to was invalid: ${(err as Error).message}`]);
  }
  const form = await formOf(ctx, repo, id);
  const use = form === 'data-dir' || flags.keys === true ? USES.restoreSnapshot : USES.restoreKeyDump;
  const series = seriesFlag(ctx);
  const resolutions = await resolvePoint(repo, id, target, { use, ...(series !== undefined && { series }) }).catch(async (err: unknown) => {
    throw use === USES.restoreKeyDump && err instanceof TargetNotRecordedError ? await withSnapshotHint(repo, id, target, err) : err;
  });
  if (id === 'latest' && target.kind === 'latest' && series === undefined) await refuseOlderThanRecorded(repo, use, resolutions[0]!);
  const note = id === 'latest' && form === 'keys' && series === undefined ? await filterBaseNote(repo, target, resolutions[0]!, { snapshot: 'add --keys', raw: 'add --strategy raw' }) : undefined;
  if (note !== undefined) ctx.log.warn({ id: resolutions[0]!.chain.base.id, note }, 'latest is a filter: key dump, not every resource');
  const cluster = id === 'latest' ? await clusterNoteOf(ctx, repo, resolutions[0]!) : undefined;
  begun();
  try {
    await restoreResolved(ctx, repo, resolutions, form, planText, { note, cluster });
  } catch (err) {
    throw id === 'latest' ? damagedBase(ctx, resolutions, err) : err;
  }
}

/**
 * `restore latest --to` whose base turned out damaged once downloaded (its bytes do not hash to its manifest's
 * sha256): names another full backup whose chain, or the chains after it, restores the same revision, with the
 * command that restores it. Any other error is returned as it is.
 */
function damagedBase(ctx: CommandContext, resolutions: readonly PointResolution[], err: unknown): unknown {
  const bad = resolutions[0]!.chain.base.id;
  if (!(err instanceof IntegrityError) || err.check !== 'sha256' || !err.message.includes(bad)) return err;
  const other = resolutions.find((r) => r.chain.base.id !== bad && r.revision === resolutions[0]!.revision && r.scan === undefined);
  if (other === undefined) return err;
  const m = other.chain.base.manifest;
  const command = restoreCommandFor(ctx.args, m.id, ['--to', String(other.revision)], ['to']);
  const why = err.message.slice(err.check.length + 2);
  return new IntegrityError(
    err.check,
    `${why}; "latest" starts from backup ${bad}, which restores nothing, and nothing was written; ${m.id} (${m.strategy}, taken ${m.createdAt}) restores the same point (revision ${other.revision}): restore it with "${command}"`,
    { cause: err },
  );
}

/**
 * For `restore latest --to`: when its series holds backups of another etcd cluster than the base it starts from (the
 * endpoints named another cluster's members, or the cluster was restored), which cluster it restores and how to
 * restore the other; warned before it starts.
 */
async function clusterNoteOf(ctx: CommandContext, repo: BackupRepository, r: PointResolution): Promise<string | undefined> {
  const m = r.chain.base.manifest;
  const note = await latestClusterNote(repo, m, (other) => `name its newest backup: "reshifter restore ${other.id}" with the same flags`);
  if (note !== undefined) ctx.log.warn({ id: m.id, clusterId: m.etcd?.clusterId, note }, 'latest is a backup of another etcd cluster than the backup before it');
  return note;
}

/** Notes on what `latest` picked: a filter: base (`note`), the etcd cluster it is of (`cluster`). */
interface Notes {
  note?: string | undefined;
  cluster?: string | undefined;
}

/** The restore itself, once its chain is resolved: into a new data dir, or keys into the running etcd. */
async function restoreResolved(ctx: CommandContext, repo: BackupRepository, resolutions: readonly PointResolution[], form: Form, planText: (r: KeyRestoreReport) => string[], notes: Notes): Promise<void> {
  const { flags } = ctx.args;
  const { note, cluster } = notes;
  const clusterNote = cluster !== undefined ? { clusterNote: cluster } : {};
  const to = flags.to as string;
  if (form === 'data-dir') {
    const str = (f: string) => (typeof flags[f] === 'string' ? (flags[f] as string) : undefined);
    const [name, initialCluster, peerUrls, token] = MEMBER_FLAGS.map(str);
    const report = await restorePointDataDir(ctx, repo, resolutions, to, {
      dataDir: str('data-dir')!,
      ...(name !== undefined && { name }),
      ...(initialCluster !== undefined && { initialCluster }),
      ...(peerUrls !== undefined && { initialAdvertisePeerUrls: peerUrls }),
      ...(token !== undefined && { initialClusterToken: token }),
    });
    if (flags.json) return ctx.print(JSON.stringify({ ...report, ...clusterNote }));
    ctx.print(describePoint(report));
    if (cluster !== undefined) ctx.print(`note: ${cluster}`);
    ctx.print(`restored into ${report.dataDir} with ${report.tool.command} ${report.tool.version}`);
    if (report.warning !== undefined) ctx.print(`warning: ${report.warning}`);
    const base = resolutions.find((r) => r.chain.base.id === report.base.id) ?? resolutions[0]!;
    ctx.print(nextStep(report.dataDir, { name, initialCluster, initialAdvertisePeerUrls: peerUrls, initialClusterToken: token }, base.chain.base.manifest.etcd?.members));
    return;
  }
  const report = await restorePointKeys(ctx, repo, resolutions[0]!, to, { dryRun: flags['dry-run'] === true, skipExisting: flags['skip-existing'] === true });
  if (flags.json) return ctx.print(JSON.stringify({ ...report, ...(note !== undefined && { note }), ...clusterNote }));
  printKeys(ctx, report, planText, [note, cluster]);
}

/** Which form the flags ask for, checked against the backup named (a specific id must be a full backup of that form). */
async function formOf(ctx: CommandContext, repo: BackupRepository, id: string): Promise<Form> {
  const { flags } = ctx.args;
  const dataDir = flags['data-dir'] !== undefined;
  if (dataDir && flags.keys === true) throw new ConfigError(['--data-dir and --keys are two ways to restore a snapshot: give one']);
  const member = MEMBER_FLAGS.filter((f) => flags[f] !== undefined);
  if (!dataDir && member.length > 0) throw new ConfigError([`${member.map((f) => `--${f}`).join(', ')} name the member of a new data dir: give --data-dir DIR too`]);
  const keyFlags = (['dry-run', 'skip-existing'] as const).filter((f) => flags[f] !== undefined);
  if (dataDir && keyFlags.length > 0) throw new ConfigError([`${keyFlags.map((f) => `--${f}`).join(', ')} ${keyFlags.length > 1 ? 'apply' : 'applies'} to restores into the running etcd (key dumps and --keys), not to --data-dir`]);
  if (id !== 'latest') {
    // A full backup of a kind that restores keys; a content type this version does not know is refused by get.
    const m = await repo.get(id, USES.restoreKeys);
    if (isDeltaManifest(m)) throw segmentRefusal(m, String(flags.to));
    if (m.contentType === SNAPSHOT_CONTENT_TYPE && !dataDir && flags.keys !== true) {
      throw new ConfigError([`backup ${m.id} is an etcd snapshot: restore it to a point into a new data directory with --data-dir DIR, or its keys into the running etcd with --keys`]);
    }
    if (m.contentType === KEY_DUMP_CONTENT_TYPE && (dataDir || flags.keys === true)) {
      throw new ConfigError([`backup ${m.id} is a key dump (${m.strategy}): it is restored into the etcd at RS_ETCD_ENDPOINTS, without --data-dir or --keys`]);
    }
    if (m.contentType !== SNAPSHOT_CONTENT_TYPE && m.contentType !== KEY_DUMP_CONTENT_TYPE) {
      throw new OperationError(`backup ${m.id} is a ${m.strategy} backup (${m.contentType}), which cannot be restored; only snapshots and key dumps can`);
    }
  }
  return dataDir ? 'data-dir' : 'keys';
}

/**
 * A delta segment given as the backup to restore (`list` shows segments first: in a recovery one is easily taken for
 * the newest backup). It is restored only with its chain: name the full backup the chain starts from, and the --to
 * that reaches `to` (the revision the segment reaches, when no --to was given).
 */
export function segmentRefusal(m: DeltaManifest, to: string): OperationError {
  return new OperationError(
    `backup ${m.id} is a delta segment of the chain of ${m.base} (revisions ${m.fromRevision}..${m.toRevision}), restored only with ` +
      `that chain, from its full backup: "reshifter restore ${m.base} --to ${to}" with the same options (--to latest: everything recorded)`,
  );
}

/** `restored backup X (revision 1041) and 3 segments: 412 changes, to revision 1453 (--to 2026-...; last change seen at ...)`. */
export function describePoint(r: PointReport): string {
  const seen = r.target.observedAt !== undefined ? `; its last change was seen at ${r.target.observedAt}` : '';
  return `restored backup ${r.base.id} (revision ${r.base.restoredRevision}) and ${counted(r.segments.length, 'segment')} with ${counted(r.events, 'change')}: the state at revision ${r.target.revision} (--to ${r.target.asked}${seen})`;
}

function printKeys(ctx: CommandContext, r: PointKeysReport, planText: (r: KeyRestoreReport) => string[], notes: ReadonlyArray<string | undefined>): void {
  ctx.print(describePoint(r.point).replace(/^restored/, r.dryRun ? 'dry run of' : 'restored'));
  for (const note of notes) if (note !== undefined) ctx.print(`note: ${note}`);
  for (const line of planText(r)) ctx.print(line);
  const d = r.deletes;
  const filtered = d.filtered > 0 ? `, ${d.filtered} left alone by filters` : '';
  ctx.print(`${r.dryRun ? 'would delete' : 'deleted'} ${d.deleted} of ${d.keys} keys the changes deleted (${d.absent} were not there${filtered})`);
}

/** The member flags a data-dir restore was given (each undefined when not). */
export interface RestoredMember {
  name?: string | undefined;
  initialCluster?: string | undefined;
  initialAdvertisePeerUrls?: string | undefined;
  initialClusterToken?: string | undefined;
}


/**
 * What to do with a restored data dir: the etcd command that starts it as the member the restore made, with every
 * member flag the restore was given (etcd needs them as they were: its peer URLs, the cluster and its token). Without
 * --name, of a backup of one member that had a name and peer URL of its own (`source`, the manifest's members): those,
 * and the flags that keep them, since etcd keeps the restored "default" at http://localhost:2380 in its membership
 * whatever flags start it, and a member added later would look for it there.
 */
export function nextStep(dataDir: string, m: RestoredMember, source?: readonly EtcdMember[]): string {
  const given: Array<[string, string | undefined]> = [
    ['--data-dir', dataDir],
    ['--name', m.name],
    ['--initial-cluster', m.initialCluster],
    ['--initial-advertise-peer-urls', m.initialAdvertisePeerUrls],
    ['--initial-cluster-token', m.initialClusterToken],
  ];
  const command = `etcd ${given.flatMap(([flag, value]) => (value === undefined ? [] : [flag, shellWord(value)])).join(' ')}`;
  if (m.name === undefined) {
    const was = source?.length === 1 ? source[0]! : undefined;
    const url = was?.peerURLs[0];
    if (was !== undefined && was.name !== '' && url !== undefined && !(was.name === 'default' && url === 'http://localhost:2380')) {
      const [name, peer] = [shellWord(printable(was.name)), shellWord(printable(url))];
      return (
        `next: ${command} (a single member named "default" with peer URL http://localhost:2380, as etcdctl restores without --name, ` +
        `which etcd keeps in its membership whatever flags start it: members added later would look for it there. ` +
        `The backup's member was ${printable(was.name)} at ${printable(url)}: to keep that name and peer URL, restore into a new --data-dir ` +
        `with --name ${name} --initial-cluster ${shellWord(`${printable(was.name)}=${printable(url)}`)} --initial-advertise-peer-urls ${peer})`
      );
    }
    return `next: ${command} (a single member named "default", as etcdctl restores without --name; for a member of a cluster, restore with --name, --initial-cluster and --initial-advertise-peer-urls)`;
  }
  return `next: ${command} (the member as restored here; add its usual --listen-peer-urls, client URLs and TLS flags)`;
}

/**
 * A key-dump restore's "not recorded", with what the snapshot chains hold: `latest` without --keys or --data-dir
 * reads key dumps only, and an operator who records snapshot chains should hear how to reach the point from them.
 */
async function withSnapshotHint(repo: BackupRepository, id: string, target: Target, err: TargetNotRecordedError): Promise<TargetNotRecordedError> {
  const covered = await resolvePoint(repo, id, target, { use: USES.restoreSnapshot }).then((r) => r.length > 0, () => false);
  if (!covered) return err;
  const hint = 'a snapshot chain covers it: restore its keys with --keys, or into a new data dir with --data-dir';
  if (err instanceof NoBaseOfKindError) return new TargetNotRecordedError(`${err.what} (a restore without --keys or --data-dir writes key dumps into the running etcd); ${hint}`, { cause: err });
  return new TargetNotRecordedError(`${err.message} (key dumps only, as restored into the running etcd; ${hint})`, { cause: err });
}

/**
 * `restore latest --to latest` promises the newest change recorded, but its form reads one kind of full backup only:
 * key dumps without --keys or --data-dir, snapshots with them. When chains of the other kind record changes beyond
 * the state it would restore (a continuous `run` on snapshots beside a nightly `raw` CronJob: up to a day of changes),
 * it is refused, naming that chain, the flags that restore it and the `--to` that takes the older state as meant.
 */
async function refuseOlderThanRecorded(repo: BackupRepository, use: BackupUse, best: PointResolution): Promise<void> {
  await refuseStranded(repo, best);
  const dumps = use === USES.restoreKeyDump;
  const other = await resolvePoint(repo, 'latest', { kind: 'latest' }, { use: dumps ? USES.restoreSnapshot : USES.restoreKeyDump }).then(
    (r) => r[0],
    () => undefined,
  );
  if (other === undefined || other.revision <= best.revision) return;
  const [mine, theirs] = dumps ? ['key dump', 'snapshot'] : ['snapshot', 'key dump'];
  const how = dumps ? 'restore its keys with --keys, or into a new data dir with --data-dir DIR' : 'restore it into the running etcd, without --keys or --data-dir';
  throw new RefusedError(
    `--to latest would restore revision ${best.revision} from ${mine} ${best.chain.base.id}, but ${theirs} ${other.chain.base.id} and the changes recorded after it reach revision ${other.revision}: ` +
      `${how}; or give --to ${best.revision} (or --strategy ${seriesOf(best.chain.base.manifest)}) to restore the older state`,
  );
}
