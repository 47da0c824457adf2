import { etcdOf, type Manifest } from '../archive/manifest.js';
import { describeBackup } from '../core/backup-kind.js';
import { OperationError } from '../core/errors.js';
import { USES, canUse } from '../core/latest.js';
import { buildSelection, selectKey, selectsEverything, type KeySelection } from '../core/key-selection.js';
import type { KeyRecord } from '../core/key-record.js';
import { openKeyReader } from '../etcd/key-reader.js';
import type { KeysOutside } from '../etcd/kube-prefixes.js';
import { answeredStatus, type EndpointStatus } from '../etcd/one-cluster.js';
import { withEtcd } from '../etcd/with-etcd.js';
import { auditRow, type AuditRow } from '../kube/audit-row.js';
import { DEFAULT_PREFIXES, parseKey } from '../kube/index.js';
import { CLUSTER_SCOPED, KeyStats, NO_NAMESPACE, statsEntryOf, type StatsReport } from '../kube/key-stats.js';
import { layoutPrefixes } from '../kube/resource-label.js';
import { reportProgress } from '../progress.js';
import { openCheckedGoZip } from './go-backup-file.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { keyDumpKeys, snapshotFileKeys, snapshotKeys } from './backup-keys.js';
import type { OpContext } from './context.js';
import { encryptionKeys } from './encryption-keys.js';
import { openBackup, type OpenedBackup } from './open-backup.js';
import { openSnapshotInput } from './open-snapshot.js';

/** Where the numbers came from. */
/** The strategy a file's stats name when it is a backup of the Go Reshifter (`<id>.zip`), which records no API or revision. */
export const GO_RESHIFTER = 'go-reshifter';

export interface StatsSource {
  kind: 'live' | 'backup' | 'file';
  endpoints?: string[];
  id?: string;
  /** A snapshot file read (`stats FILE`). */
  path?: string;
  strategy?: string;
  apiVersion: 'v2' | 'v3';
  revision: number;
  prefixes: string[];
  /** Live: keys the etcd holds beyond the detected prefixes, not counted (k3s's /bootstrap, Calico's /calico). */
  outside?: KeysOutside;
  /** Live, several endpoints: those down or cut off from the others (no leader), with why; the counts are the others'. */
  degraded?: Array<{ endpoint: string; problem: string }>;
}

export interface StatsResult {
  source: StatsSource;
  report: StatsReport;
}

export interface StatsOptions {
  /** Told every counted key's audit row, in key order (`stats --keys`). */
  onRow?: (row: AuditRow) => void;
  /** Awaited now and then while rows are told: a promise while their reader is behind (CommandContext.backlog). */
  backlog?: () => Promise<void> | undefined;
}

/**
 * Counts keys and bytes per prefix, resource, namespace and value encoding, of the keys the RS_INCLUDE_/EXCLUDE_*
 * filters select. Memory grows with the groups, not with the keys.
 */
class StatsCounter {
  readonly stats = new KeyStats();
  private readonly selection: KeySelection;
  private readonly everything: boolean;

  constructor(
    ctx: OpContext,
    private readonly onRow: StatsOptions['onRow'],
  ) {
    this.selection = buildSelection(ctx.config.selection);
    this.everything = selectsEverything(this.selection);
  }

  /** A key with its value, its groups read against `layout`; returns the bytes read (key and value). */
  key(r: Pick<KeyRecord, 'key' | 'value' | 'modRevision'>, layout: readonly string[]): number {
    const bytes = r.key.length + r.value.length;
    if (!this.everything && !selectKey(parseKey(r.key, layout), this.selection)) return bytes;
    this.stats.add(statsEntryOf(r.key, r.value, layout));
    this.onRow?.(auditRow(r.key, r.value, layout, r.modRevision));
    return bytes;
  }

  /** A render listing's row: the groups are in the row, the value is not; returns the bytes it names. */
  row(row: AuditRow, layout: readonly string[]): number {
    const key = row.keyBase64 !== undefined ? Buffer.from(row.keyBase64, 'base64') : Buffer.from(row.key);
    const parsed = parseKey(key, layout);
    const bytes = key.length + row.size;
    if (!this.everything && !selectKey(parsed, this.selection)) return bytes;
    this.stats.add({
      prefix: parsed.prefix ?? NO_NAMESPACE,
      resource: row.resource,
      namespace: parsed.namespace ?? (parsed.type === 'object' ? CLUSTER_SCOPED : NO_NAMESPACE),
      encoding: row.encoding,
      keyBytes: key.length,
      valueBytes: row.size,
    });
    this.onRow?.(row);
    return bytes;
  }
}

/** Stats of the live etcd at RS_ETCD_ENDPOINTS, read a page at a time at one revision. */
export async function liveStats(ctx: OpContext, opts: StatsOptions = {}): Promise<StatsResult> {
  const counter = new StatsCounter(ctx, opts.onRow);
  // Each endpoint's status as the one-cluster check got it: not asked again at the end.
  let statuses: EndpointStatus[] = [];
  return withEtcd(ctx.config, { signal: ctx.signal, log: ctx.log, onStatuses: (s) => (statuses = s) }, async (etcd, pinned) => {
    const etcdVersion = answeredStatus(statuses)?.version;
    const reader = await openKeyReader(pinned, etcd, ctx.log, { lookOutside: true, ...(etcdVersion !== undefined && { etcdVersion }) });
    try {
      const layout = layoutPrefixes(reader.prefixes, DEFAULT_PREFIXES);
      let keys = 0;
      let bytes = 0;
      const stopProgress = reportProgress(ctx.log, 'stats', () => ({ bytes, keys }));
      try {
        for await (const page of reader.pages()) {
          for (const r of page) {
            counter.key(r, layout);
            keys++;
            bytes += r.key.length + r.value.length;
          }
          await opts.backlog?.();
        }
      } finally {
        stopProgress();
      }
      const { apiVersion, revision, prefixes, outside } = reader;
      // With one endpoint there are no others it was counted from.
      const degraded = apiVersion === 'v3' && ctx.config.etcd.endpoints.length > 1 ? degradedMembers(statuses) : [];
      const source: StatsSource = {
        kind: 'live',
        endpoints: ctx.config.etcd.endpoints,
        apiVersion,
        revision,
        prefixes,
        ...(outside && { outside }),
        ...(degraded.length > 0 && { degraded }),
      };
      return { source, report: counter.stats.report() };
    } finally {
      reader.close();
    }
  });
}

/**
 * The configured endpoints that did not answer or know no leader (of `statuses`, as the one-cluster check got them at
 * the start; none with one endpoint): the read went to the others without a word, so the operator would not learn
 * from `stats` that a member is down or cut off (`explore` says more).
 */
function degradedMembers(statuses: EndpointStatus[]): Array<{ endpoint: string; problem: string }> {
  return statuses.flatMap((s) =>
    s.error !== undefined
      ? [{ endpoint: s.endpoint, problem: `not answering (${s.error})` }]
      : s.leader === '0'
        ? [{ endpoint: s.endpoint, problem: `no leader: cut off from the other members, at revision ${s.revision}` }]
        : [],
  );
}

/**
 * Stats of a stored backup (checked against its manifest first): a key dump's keys, a render listing's rows, or a
 * snapshot's live keys under RS_KUBE_PREFIXES (default the Kubernetes prefixes), read offline.
 */
export async function backupStats(ctx: OpContext, repo: BackupRepository, m: Manifest, opts: StatsOptions = {}): Promise<StatsResult> {
  const counter = new StatsCounter(ctx, opts.onRow);
  const keys = await encryptionKeys(ctx.config, { forReading: true });
  if (!canUse(USES.stats, m)) throw new OperationError(`backup ${m.id} is a ${describeBackup(m)}, which stats cannot read: ${USES.stats.reads}`);
  const backup = await openBackup(repo, m, keys, ctx.signal, { purpose: 'stats', log: ctx.log });
  try {
    const source: StatsSource = { kind: 'backup', id: m.id, strategy: m.strategy, apiVersion: etcdOf(m).apiVersion, revision: etcdOf(m).revision, prefixes: m.prefixes ?? [] };
    source.prefixes = await countBackup(ctx, backup, counter, source.prefixes, opts.backlog);
    return { source, report: counter.stats.report() };
  } finally {
    await backup.close();
  }
}

/**
 * Stats of a snapshot file on this machine (`etcdctl snapshot save`'s, k3s's; gzip, zstd, age or zip decoded in the work
 * area first): its live keys under RS_KUBE_PREFIXES (default the Kubernetes prefixes), read offline. A backup of the Go
 * Reshifter fetched from a store by its id is given with `goBackup`: named by its address, and its folder must be that id.
 */
export async function fileStats(ctx: OpContext, path: string, opts: StatsOptions = {}, goBackup?: { name: string; id: string }): Promise<StatsResult> {
  const counter = new StatsCounter(ctx, opts.onRow);
  const goZip = await import('../archive/go-reshifter-zip.js');
  if (await goZip.isGoReshifterZip(path)) {
    // A backup of the Go Reshifter: checked whole first, as a restore checks it, then counted.
    const { summary, stream } = await openCheckedGoZip(ctx.log, path, goBackup?.name ?? path, ctx.signal, { command: 'stats', ...(goBackup !== undefined && { id: goBackup.id }) });
    const layout = layoutPrefixes(summary.prefixes, DEFAULT_PREFIXES);
    await eachPaced(ctx, stream.records(), (r) => counter.key(r, layout), opts.backlog);
    return { source: { kind: 'file', path, id: summary.id, strategy: GO_RESHIFTER, apiVersion: 'v3', revision: 0, prefixes: summary.prefixes }, report: counter.stats.report() };
  }
  const input = await openSnapshotInput(ctx, path, undefined, 'stats');
  try {
    // Counted and let go of key by key: the values need not be copies (see LiveKeysOptions.transientValues).
    const stream = await snapshotFileKeys(ctx, input, { transientValues: true });
    const layout = layoutPrefixes(stream.header.prefixes, DEFAULT_PREFIXES);
    await eachPaced(ctx, stream.records(), (r) => counter.key(r, layout), opts.backlog, stream.scanned);
    const { revision, prefixes } = stream.header;
    return { source: { kind: 'file', path, apiVersion: 'v3', revision, prefixes }, report: counter.stats.report() };
  } finally {
    await input.close();
  }
}

/** Counts what the backup holds; returns the prefixes it covered. */
async function countBackup(ctx: OpContext, backup: OpenedBackup, counter: StatsCounter, prefixes: string[], backlog?: StatsOptions['backlog']): Promise<string[]> {
  if (backup.kind === 'render listing') {
    const layout = layoutPrefixes(backup.manifest.prefixes ?? DEFAULT_PREFIXES, DEFAULT_PREFIXES);
    await eachPaced(ctx, backup.rows(), (row) => counter.row(row, layout), backlog);
    return prefixes;
  }
  if (backup.kind === 'container checkpoint') throw new OperationError(`backup ${backup.manifest.id} is a container checkpoint, which holds no keys`);
  const stream =
    backup.kind === 'key dump'
      ? await keyDumpKeys(backup)
      : // The latest state of the snapshot: it holds at least the manifest's revision, maybe a little more.
        await snapshotKeys(backup, {
          prefixes: ctx.config.selection.prefixes.length > 0 ? ctx.config.selection.prefixes : [...DEFAULT_PREFIXES],
          transientValues: true,
        });
  const layout = layoutPrefixes(stream.header.prefixes, DEFAULT_PREFIXES);
  // A signal stops either reader with 'stats of backup <id> stopped' (openBackup: a key dump's stream, a snapshot's walk).
  await eachPaced(ctx, stream.records(), (r) => counter.key(r, layout), backlog, stream.scanned);
  return stream.header.prefixes;
}

/**
 * Counts every item (`count` returns its bytes), letting a slow reader of the rows (`stats --keys | less`) catch up
 * every 256 of them, and reports the keys and bytes counted as `stats` progress while it lasts, as a live stats does:
 * a backup or file of a million keys takes tens of seconds. Of a snapshot, also the revisions `scanned` says it has gone
 * through: the pass that finds its live keys comes before the first is counted, and `keys: 0` alone read as stuck.
 */
async function eachPaced<T>(ctx: OpContext, items: AsyncIterable<T>, count: (item: T) => number, backlog: StatsOptions['backlog'], scanned?: () => number): Promise<void> {
  let keys = 0;
  let bytes = 0;
  const stopProgress = reportProgress(ctx.log, 'stats', () => ({ bytes, keys, ...(scanned && { scanned: scanned() }) }));
  try {
    for await (const item of items) {
      bytes += count(item);
      if (++keys % 256 === 0) await backlog?.();
    }
  } finally {
    stopProgress();
  }
}
