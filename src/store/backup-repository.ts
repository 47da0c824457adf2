import { existsSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { IntegrityError, NotFoundError, RefusedError, StoreError, UsageError, describeError } from '../core/errors.js';
import { kindOf, newerKindText } from '../core/backup-kind.js';
import { inSeries } from '../core/series.js';
import { USES, newestFirst, pickLatest, type BackupUse, type LatestQuery } from '../core/latest.js';
import { mapLimited } from '../core/map-limited.js';
import { nearbyIds } from '../core/nearby.js';
import { printable } from '../core/printable.js';
import { unreachablePath } from '../core/unreachable-path.js';
import { goBackupsHere, snapshotFilesHere } from '../core/snapshot-files-here.js';
import { BACKUP_ID_RE, idOfFile, idOfWrittenName, manifestName, newBackupId } from '../core/naming.js';
import { parseManifest, serializeManifest, type Manifest } from '../archive/manifest.js';
import { TEMP_NAME } from './local-store.js';
import { ManifestCache } from './manifest-cache.js';
import { limitBytes } from './size-limit.js';
import type { ListOptions, ObjectInfo, Store } from './types.js';

export interface Listing {
  /** Valid manifests, newest first. */
  backups: Manifest[];
  /**
   * Manifests that could not be read, with why; `cluster` when the manifest is whole but of another cluster's backup
   * (copied into this cluster's folder, or the folder renamed): the cluster it names.
   */
  invalid: Array<{ key: string; error: string; cluster?: string }>;
  /** Stored files that belong to no manifest (a failed or running backup), and temp files. */
  orphans: ObjectInfo[];
  /**
   * Valid manifests whose artifact restores nothing: not in the store (removed by hand, lost), or stored at another
   * size than the manifest's (cut short by a copy of the store that stopped), with the size the store holds.
   */
  unusable: Array<{ id: string; artifact: string; storedBytes?: number; sizeBytes: number }>;
}

/** How many folder listings the look for a cluster's backups further down a store may take (a fleet's bucket is big). */
const DEEPER_LISTINGS = 100;

/** How many manifests `list` reads at once. */
const MANIFEST_READS = 16;

/** One cluster's backups in a store: `<cluster>/<id>.<artifact>` plus `<cluster>/<id>.manifest.json`. */
export class BackupRepository {
  constructor(
    readonly store: Store,
    readonly cluster: string,
    /** RS_TMP_DIR: where readers stage a backup's bytes (undefined: the system's temporary folder). */
    readonly workDir?: string,
  ) {}

  private key(file: string): string {
    return `${this.cluster}/${file}`;
  }

  /** Reads every manifest of the cluster. */
  async list(): Promise<Listing> {
    const objects = await this.store.list(`${this.cluster}/`, { pending: true });
    const manifests = objects.filter((o) => o.key.endsWith('.manifest.json'));
    const backups: Manifest[] = [];
    const invalid: Listing['invalid'] = [];
    // A few at a time: one after another, a month of hourly backups with their delta segments took minutes on S3
    // (a request's round trip each), for every `latest`.
    const cache = new ManifestCache(this.store);
    cache.forgetMissing(`${this.cluster}/`, manifests);
    const read = await mapLimited(manifests, MANIFEST_READS, async (o): Promise<Manifest | Listing['invalid'][number] | undefined> => {
      try {
        const known = cache.get(o);
        if (known !== undefined) return known;
        const m = await this.readManifestKey(o.key);
        cache.set(o, m);
        return m;
      } catch (err) {
        // Deleted since the listing (another reshifter's retention or delete on this store): gone, not broken.
        if (isGone(err)) return undefined;
        return { key: o.key, error: describeError(err), ...(err instanceof OtherClusterError && { cluster: err.owner }) };
      }
    });
    for (const r of read) {
      if (r === undefined) continue;
      if ('error' in r) invalid.push(r);
      else backups.push(r);
    }
    const owned = new Set(manifests.map((o) => idOfFile(o.key.slice(this.cluster.length + 1))));
    const orphans = objects.filter((o) => {
      const file = o.key.slice(this.cluster.length + 1);
      // Only the exact names reshifter writes (`<id>.manifest.json`, `<id>.<format>[.zst|.gz][.age]`, and the
      // temporary files of their puts) can be left by a killed backup: any other file in the folder (an operator's own
      // snapshot, a note, a `<id>.manifest.json.bak` or `<id>.snapshot.db.zst.orig` kept by hand) is someone else's.
      const temp = TEMP_NAME.exec(file);
      if (temp !== null) return idOfWrittenName(temp[1]!) !== undefined;
      const id = idOfWrittenName(file);
      return id !== undefined && !file.endsWith('.manifest.json') && !owned.has(id);
    });
    backups.sort(newestFirst);
    return { backups, invalid, orphans, unusable: this.unusable(backups, objects) };
  }

  /** The backups whose artifact is not in `objects`, or is there at another size than its manifest says. */
  private unusable(backups: readonly Manifest[], objects: readonly ObjectInfo[]): Listing['unusable'] {
    const sizes = new Map(objects.map((o) => [o.key, o.size]));
    return backups.flatMap((m) => {
      const stored = sizes.get(this.key(m.artifact));
      if (stored === m.sizeBytes) return [];
      return [{ id: m.id, artifact: m.artifact, sizeBytes: m.sizeBytes, ...(stored !== undefined && { storedBytes: stored }) }];
    });
  }

  /**
   * The manifest of backup `id`. `latest` is the newest backup the caller can `use` (of `series`, when given: the
   * `--strategy` narrowing), chosen by pickLatest. An id is taken as it is: the caller checks what it holds. Something
   * that is no id at all is a usage error (checkBackupIds); an id the store does not hold, a NotFoundError.
   */
  async get(id: string, use: BackupUse, series?: string): Promise<Manifest> {
    if (id === 'latest') return this.latest(use, series);
    checkBackupIds([id]);
    let m: Manifest;
    try {
      m = await this.readManifestKey(this.key(manifestName(id)));
    } catch (err) {
      if (err instanceof StoreError && err.kind === 'not-found') throw await this.notFound(id);
      throw err;
    }
    // Only verify (and a download) takes it: its stored bytes are checked, its content is said not to be (skip content).
    if (use !== USES.any && kindOf(m.contentType) === 'other') throw new RefusedError(newerKindText(m));
    return m;
  }

  /**
   * The manifest of backup `id` for a restore (or another read of its artifact: stats, inspect, diff, a download), as
   * get gives it, refused up front (RefusedError: exit 1, HTTP 409) when the store does not hold its artifact whole
   * (checkWhole): read late, the restore failed once begun (an API job accepted, then failed), without a word of which
   * backup restores instead.
   */
  async getWhole(id: string, use: BackupUse, series?: string): Promise<Manifest> {
    const m = await this.get(id, use, series);
    // `latest` is refused so by get already, except for a use of any backup (verify takes it as it is).
    if (id !== 'latest' || use === USES.any) await this.checkWhole(m, use, series);
    return m;
  }

  /**
   * Refuses (RefusedError) backup `m` when the store does not hold its artifact whole, naming the newest whole backup of
   * its kind (of `series`, when given) to give instead. One HEAD of the artifact (a stat on a local store), no listing:
   * a restore-only S3 credential (s3:GetObject, no s3:ListBucket) restores a whole backup by id as it always did.
   */
  async checkWhole(m: Manifest, use: BackupUse, series?: string): Promise<void> {
    const stored = await this.store.stat(this.key(m.artifact));
    if (stored?.size === m.sizeBytes) return;
    const u: UnusableBackup = { id: m.id, artifact: m.artifact, sizeBytes: m.sizeBytes, ...(stored !== undefined && { storedBytes: stored.size }) };
    const q: LatestQuery = { use: { kinds: [kindOf(m.contentType)], reads: use.reads }, where: `cluster "${this.cluster}" in ${this.store.location}`, ...(series !== undefined && { series }) };
    // Naming the backup to use instead needs a listing; the refusal stands without it (a credential without s3:ListBucket).
    const instead = await this.list().then(
      ({ backups, unusable }) => insteadText(newestWhole(backups, [...unusable, u], q), false),
      (err: unknown) => `which backup is whole cannot be told: ${describeError(err)}`,
    );
    throw new RefusedError(`backup ${m.id}: ${unusableText(u)}; ${instead}`);
  }

  /**
   * The newest backup `use` can take (of `series`) that `keep` keeps, whose artifact the store holds whole (by its
   * size), if any: what a restore of `latest` names when the backup it took turned out corrupt, or not readable with
   * the keys at hand.
   */
  async newestWholeWhere(keep: (m: Manifest) => boolean, use: BackupUse, series?: string): Promise<Manifest | undefined> {
    const { backups, unusable } = await this.list();
    const q: LatestQuery = { use, where: `cluster "${this.cluster}" in ${this.store.location}`, ...(series !== undefined && { series }) };
    return newestWhole(backups.filter(keep), unusable, q);
  }

  /**
   * `latest`, refused when a backup newer than the one it would name has a manifest that cannot be read: taking an
   * older backup without a word would restore (or verify) less than the operator believes. An id names one explicitly.
   */
  private async latest(use: BackupUse, series: string | undefined): Promise<Manifest> {
    const { backups, invalid, unusable } = await this.list();
    const where = `cluster "${this.cluster}" in ${this.store.location}`;
    if (backups.length === 0 && invalid.length === 0) throw new NotFoundError(`no backups of ${where}${hinted(await this.elsewhere())}`);
    const owner = onlyOtherCluster(invalid);
    if (backups.length === 0 && owner !== undefined) throw new NotFoundError(`no backups of ${where}; ${this.copiedHere(owner, invalid.length)}`);
    let m: Manifest;
    try {
      m = pickLatest(backups, { use, where, ...(series !== undefined && { series }) });
    } catch (err) {
      const bad = unreadableNewer(invalid, '');
      if (!(err instanceof NotFoundError) || bad.length === 0) throw err;
      throw new NotFoundError(`${err.message}; the manifest of ${bad.length === 1 ? 'a backup' : `${bad.length} backups`} cannot be read: ${bad.join(', ')}`);
    }
    newerKindRefusal(backups, m, use, series);
    // verify and downloads take it as it is: verify says FAIL read. A restore is told which backup restores instead.
    const broken = use === USES.any ? undefined : unusable.find((u) => u.id === m.id);
    const q: LatestQuery = { use, where, ...(series !== undefined && { series }) };
    const newer = unreadableNewer(invalid, m.id);
    if (newer.length > 0) {
      // Another cluster's backups synced into this folder belong in that cluster's: "repair or delete" would not fit.
      const owner = onlyOtherCluster(invalid.filter((bad) => (idOfFile(basename(bad.key)) ?? '') > m.id));
      const fix = owner !== undefined ? `or move the newer backups' files to the folder of cluster ${owner}` : 'or repair or delete the newer backup';
      // A store copied in part (an interrupted cp or rsync) cuts the newest files short: the id offered must restore.
      const give = broken === undefined ? `Give the id ${m.id} instead of "latest" to use it` : `Nor will ${m.id} do: ${unusableText(broken)}; ${insteadText(newestWhole(backups, unusable, q), false)}`;
      throw new RefusedError(`"latest" would be backup ${m.id}, but the manifest of a newer backup cannot be read: ${newer.join(', ')}. ${give}, ${fix}`);
    }
    if (broken !== undefined) throw unusableLatest(broken, backups, unusable, q);
    return m;
  }

  /** The ids of the cluster's backups (those with a manifest), from a listing of names only: no manifest is read. */
  async ids(): Promise<string[]> {
    return this.manifestIds(await this.store.list(`${this.cluster}/`));
  }

  /**
   * The newest id of the cluster's backups taken at `at` or later by their id, if any (nextBackupId orders a new
   * backup's id after it). Only names that sort after `at` are listed: one request on S3 however many backups there are.
   */
  async newestIdFrom(at: Date, opts: Pick<ListOptions, 'signal' | 'retryWindowMs'> = {}): Promise<string | undefined> {
    // `<cluster>/20261122T030710.123Z`: every id of that millisecond and later sorts after it.
    const objects = await this.store.list(`${this.cluster}/`, { ...opts, startAfter: this.key(newBackupId(at).slice(0, 20)) });
    return this.manifestIds(objects).reduce<string | undefined>((a, b) => (a === undefined || b > a ? b : a), undefined);
  }

  /**
   * The manifests of the full backups whose id sorts after `id` (the listing starts there: it costs the requests of
   * the names after it only), but for those `skip` names (already read). Delta segments are left out by their
   * artifact's name (`<id>.delta.tar...`), without reading their manifest; a manifest that cannot be read is left out.
   */
  async fullBackupsAfter(id: string, skip: (id: string) => boolean, opts: Pick<ListOptions, 'signal' | 'retryWindowMs'> = {}): Promise<Manifest[]> {
    const objects = await this.store.list(`${this.cluster}/`, { ...opts, startAfter: this.key(id) });
    const segments = new Set(objects.flatMap((o) => {
      const file = o.key.slice(this.cluster.length + 1);
      return file.slice(27).startsWith('.delta.') ? [idOfFile(file)] : [];
    }));
    const wanted = this.manifestIds(objects).filter((m) => m > id && !segments.has(m) && !skip(m));
    const read = await mapLimited(wanted, MANIFEST_READS, (m) => this.readManifestKey(this.key(manifestName(m))).catch(() => undefined));
    return read.filter((m): m is Manifest => m !== undefined);
  }

  private manifestIds(objects: readonly ObjectInfo[]): string[] {
    return objects.flatMap((o) => {
      const file = o.key.slice(this.cluster.length + 1);
      const id = file.endsWith('.manifest.json') ? idOfFile(file) : undefined;
      return id !== undefined && file === manifestName(id) ? [id] : [];
    });
  }

  /** The error for an id the store does not hold, naming what it holds nearby. */
  async notFound(id: string): Promise<NotFoundError> {
    const held = await this.ids().catch(() => undefined);
    const near = held === undefined ? '' : `; ${nearbyIds(id, held)}`;
    const elsewhere = held?.length === 0 ? hinted(await this.elsewhere()) : '';
    return new NotFoundError(`no backup "${id}" of cluster "${this.cluster}" in ${this.store.location}${near}${elsewhere}`);
  }

  /**
   * For a cluster without backups: the other clusters of the store that have some (`/backups holds the backups of
   * cluster prod: set RS_CLUSTER_NAME ...`), or that the local store's folder does not exist, so that a recovery run
   * with the wrong RS_CLUSTER_NAME or RS_BACKUP_DIR says so rather than that there are no backups; '' otherwise.
   */
  async elsewhere(): Promise<string> {
    // A read-only command never creates the local store's folder: a mistyped RS_BACKUP_DIR is said as such.
    if (this.store.localPath !== undefined && !existsSync(this.store.location)) return `${this.store.location} does not exist: check RS_BACKUP_DIR (or --backup-dir)`;
    try {
      const nested = await this.nested();
      if (nested !== undefined) return nested;
      const others: string[] = [];
      const folders = (await this.store.folders('')).filter((f) => f !== this.cluster);
      for (const folder of folders) {
        if ((await new BackupRepository(this.store, folder).ids()).length > 0) others.push(folder);
      }
      if (others.length === 0) return await this.noCluster(folders);
      return (await this.copiedTo(others)) ?? otherClusters(this.store.location, others);
    } catch {
      return '';
    }
  }

  /**
   * This cluster's backups in another folder of the store, one of `folders` (that hold backups), named otherwise (`aws s3
   * sync s3://b/p/prod ./copy`): that folder and what makes it readable, rather than its name as the cluster to set
   * (whose manifests all name this one). Undefined when none is.
   */
  async copiedTo(folders: readonly string[]): Promise<string | undefined> {
    for (const folder of folders) {
      const ids = await new BackupRepository(this.store, folder).ids();
      if (ids.length > 0 && (await this.ownerOf(folder, ids)) === this.cluster) return copiedText(this.store, folder, this.cluster, ids.length);
    }
    return undefined;
  }

  /** The cluster that the newest manifest in `folder` names (its folder's name, unless copied or renamed), if it reads. */
  private async ownerOf(folder: string, ids: readonly string[]): Promise<string | undefined> {
    const key = `${folder ? `${folder}/` : ''}${manifestName([...ids].sort().at(-1)!)}`;
    try {
      return parseManifest(await readLimited(await this.store.get(key), 1024 * 1024, key), key).cluster;
    } catch {
      return undefined;
    }
  }

  /** What to say of `count` backups of cluster `owner` in this cluster's folder: copied here, or the folder renamed. */
  copiedHere(owner: string, count: number): string {
    return copiedText(this.store, this.cluster, owner, count);
  }

  /**
   * This cluster's folder without backups of its own but with a cluster's folder of backups inside it (RS_S3_PREFIX=prod
   * with RS_CLUSTER_NAME=prod keeps them in prod/prod/, which a recovery with RS_S3_PREFIX unset looks one level above):
   * the setting that names it. Undefined otherwise.
   */
  private async nested(): Promise<string | undefined> {
    const inner: string[] = [];
    for (const sub of await this.store.folders(`${this.cluster}/`)) {
      if ((await new BackupRepository(this.store, `${this.cluster}/${sub}`).ids()).length > 0) inner.push(sub);
    }
    if (inner.length === 0) return undefined;
    const { location, s3Prefix } = this.store;
    const store =
      this.store.localPath !== undefined
        ? `set RS_BACKUP_DIR (or --backup-dir) to ${join(location, this.cluster)}`
        : `set RS_S3_PREFIX (or --s3-prefix) to ${[s3Prefix, this.cluster].filter((p) => p).join('/')}`;
    const name = inner.includes(this.cluster) ? '' : `, and RS_CLUSTER_NAME to ${inner.length === 1 ? inner[0]! : `one of ${inner.join(', ')}`}`;
    return `${location.replace(/\/$/, '')}/${this.cluster} holds the folder of backups of cluster ${inner.join(', ')} one level down: ${store}${name}`;
  }

  /**
   * When no folder of the store holds backups: nothing stored there at all, the store naming a cluster's folder itself
   * (what `ls` of a backup shows), or only folders that are no cluster's (RS_S3_PREFIX or RS_BACKUP_DIR naming the
   * folder above the store, or beside it).
   */
  private async noCluster(folders: readonly string[]): Promise<string> {
    const local = this.store.localPath !== undefined;
    const vars = local ? 'RS_BACKUP_DIR (or --backup-dir)' : 'RS_S3_BUCKET and RS_S3_PREFIX (or --s3-prefix)';
    const files = async () => {
      const names = (await this.store.list('')).map((o) => o.key);
      return goBackupsHere(this.store.location, names) ?? snapshotFilesHere(this.store.location, names, local ? this.store.location : undefined);
    };
    if (folders.length === 0) return (await this.clusterFolder()) ?? (await files()) ?? `${this.store.location} holds no folder of a cluster: check ${vars}`;
    const shown = folders.length > 5 ? `${folders.slice(0, 5).join(', ')} and ${folders.length - 5} more` : folders.join(', ');
    return (await files()) ?? (await this.deeper()) ?? `${this.store.location} holds no cluster's backups, only the folders ${shown}: check ${vars}`;
  }

  /**
   * When the store's folder is set higher than the backups (RS_S3_PREFIX=team for backups in team/etcd/prod, or left
   * unset after a change of prefix; RS_BACKUP_DIR the folder above the store): the folders named as this cluster further
   * down that hold its backups, with the setting that reaches each. A few levels and listings at most; undefined when none.
   */
  private async deeper(): Promise<string | undefined> {
    const found: string[] = [];
    let frontier = [''];
    let listings = 0;
    for (let depth = 0; depth < 4 && frontier.length > 0 && found.length < 5 && listings < DEEPER_LISTINGS; depth++) {
      const next: string[] = [];
      for (const dir of frontier) {
        if (listings++ >= DEEPER_LISTINGS) break;
        for (const sub of await this.store.folders(dir)) {
          const path = `${dir}${sub}`;
          if (depth > 0 && sub === this.cluster && (await new BackupRepository(this.store, path).ids()).length > 0) found.push(dir.slice(0, -1));
          else next.push(`${path}/`);
        }
      }
      frontier = next;
    }
    if (found.length === 0) return undefined;
    const { location, s3Prefix } = this.store;
    const local = this.store.localPath !== undefined;
    const set = found.map((above) =>
      local ? `RS_BACKUP_DIR (or --backup-dir) to ${join(location, above)}` : `RS_S3_PREFIX (or --s3-prefix) to ${[s3Prefix, above].filter((p) => p).join('/')}`,
    );
    const where = found.map((above) => `${location.replace(/\/$/, '')}/${above}/${this.cluster}`);
    return `${location} holds no cluster's folder itself, but the backups of cluster ${this.cluster} are further down, in ${where.join(', ')}: set ${set.join(', or ')}`;
  }

  /**
   * When the store's own folder holds backup manifests, it is a cluster's folder: how to name the store above it and
   * the cluster. Only asked of a store without subfolders, so the listing is of that one folder's files.
   */
  private async clusterFolder(): Promise<string | undefined> {
    const ids = (await this.store.list('')).flatMap((o) => {
      const id = o.key.endsWith('.manifest.json') && !o.key.includes('/') ? idOfFile(o.key) : undefined;
      return id !== undefined ? [id] : [];
    });
    if (ids.length === 0) return undefined;
    const said = `${this.store.location} is a cluster's folder (it holds backup files itself)`;
    const { location } = this.store;
    const local = this.store.localPath !== undefined;
    const prefix = this.store.s3Prefix;
    if (!local && !prefix) return undefined; // backups at the top of a bucket: no setting names them
    const name = local ? basename(location) : prefix!.slice(prefix!.lastIndexOf('/') + 1);
    const up = local ? dirname(location) : prefix!.includes('/') ? prefix!.slice(0, prefix!.lastIndexOf('/')) : '';
    const setUp = local ? `set RS_BACKUP_DIR to the folder above it, ${up}` : up ? `set RS_S3_PREFIX to the prefix above it, ${up}` : 'unset RS_S3_PREFIX';
    // A copy under another name (`aws s3 sync s3://b/p/prod ./etcd`): its manifests name the cluster, not the folder.
    const owner = await this.ownerOf('', ids);
    const andSet = local ? 'and RS_CLUSTER_NAME' : 'and set RS_CLUSTER_NAME';
    if (owner === undefined || owner === name) return `${said}: ${setUp}, ${andSet} to its name, ${name}`;
    const to = local ? join(up, owner) : `${location.slice(0, location.length - prefix!.length)}${up ? `${up}/` : ''}${owner}`;
    const move = local ? `mkdir -p ${sh(to)} && mv ${sh(location)}/* ${sh(to)}/` : `aws s3 mv --recursive ${sh(`${location.replace(/\/$/, '')}/`)} ${sh(`${to}/`)}`;
    return (
      `${said}, of cluster ${printable(owner)} (as its manifests say) under another name, ${name}: move its files into a folder named ${printable(owner)} ` +
      `("${move}"), ${setUp}, ${andSet} to ${printable(owner)}`
    );
  }

  private async readManifestKey(key: string): Promise<Manifest> {
    const body = await this.store.get(key);
    const m = parseManifest(await readLimited(body, 1024 * 1024, key), key);
    if (`${this.cluster}/${manifestName(m.id)}` !== key) throw new IntegrityError('manifest', `${key}: names backup ${m.cluster}/${m.id}, not itself`);
    if (m.cluster !== this.cluster) throw new OtherClusterError(key, m.cluster, this.cluster);
    return m;
  }

  /**
   * Opens the stored bytes of a backup's artifact: a byte past the size its manifest says fails the read (IntegrityError
   * `size`). With `range` (inclusive, within the manifest's size: a resumed download), only those bytes.
   */
  async openArtifact(m: Manifest, signal?: AbortSignal, range?: { start: number; end: number }): Promise<Readable> {
    let body: Readable;
    try {
      body = await this.store.get(this.key(m.artifact), { ...(signal && { signal }), ...(range && { range }) });
    } catch (err) {
      throw await this.deletedWhileRead(m, err);
    }
    const where = this.artifactAddress(m);
    const limit = range ? range.end - range.start + 1 : m.sizeBytes;
    return limitBytes(body, limit, () => new IntegrityError('size', `backup ${m.id}: ${where} holds more than the ${m.sizeBytes} bytes its manifest says: refusing to read a damaged or replaced backup on`));
  }

  /** The address of backup `m`'s artifact, for messages: `s3://bucket/prefix/cluster/<artifact>`, or its path. */
  artifactAddress(m: Pick<Manifest, 'artifact'>): string {
    return `${this.store.location.replace(/\/$/, '')}/${this.key(m.artifact)}`;
  }

  /**
   * `err`, a failure to read backup `m`'s artifact, as the operator should hear it: when the artifact is gone and so is
   * its manifest, the backup was deleted after its manifest was read (retention, `prune` or `delete` of another
   * reshifter on the same store), which is no damage; a NotFoundError says so. An artifact gone while its manifest is
   * there is a damaged backup: an IntegrityError of the `read` check says so. Any other error, and one of something
   * else that is missing while the artifact is there, is returned as it is.
   */
  async deletedWhileRead(m: Pick<Manifest, 'id' | 'artifact'>, err: unknown): Promise<unknown> {
    if (!isGone(err)) return err;
    // Gone for sure only when the store says so (another failure to read it counts as there).
    const gone = (key: string) => this.store.get(this.key(key)).then((body) => (body.destroy(), false), isGone);
    // Something else was missing (the work area, RS_TMP_DIR): the artifact is there, the error is another's.
    if (!(await gone(m.artifact))) return err;
    if (!(await gone(manifestName(m.id)))) {
      const where = this.artifactAddress(m);
      const by = this.store.localPath !== undefined ? 'removed by hand' : 'removed by hand, or by a lifecycle rule of the bucket';
      return new IntegrityError('read', `backup ${m.id}: its artifact ${where} is missing, though its manifest is there (${by}); the backup cannot be read or restored`, {
        cause: err,
      });
    }
    return new NotFoundError(
      `backup ${m.id} was deleted while it was being read: its manifest and artifact are no longer in ${this.store.location} ` +
        '(retention, prune or delete of another reshifter on the same store removed it); "reshifter list" shows the backups there are',
      { cause: err },
    );
  }

  /**
   * The artifact's file on this machine when it can be read in place: a local store, and stored bytes that are the
   * content itself (no compression, no encryption), so a reader needs no copy of it. Undefined otherwise.
   */
  plainLocalArtifact(m: Manifest): string | undefined {
    if (m.compression !== 'none' || m.encryption !== 'none') return undefined;
    return this.localArtifact(m);
  }

  /** The artifact's file on this machine, whatever its codec: a local store. Undefined otherwise. */
  localArtifact(m: Manifest): string | undefined {
    return this.store.localPath?.(this.key(m.artifact));
  }

  /** Stores an artifact atomically. */
  async putArtifact(file: string, body: Readable, signal?: AbortSignal): Promise<void> {
    await this.store.put(this.key(file), body, signal ? { signal } : {});
  }

  /** Writes the manifest: the last step of a backup, which makes it exist. */
  async putManifest(m: Manifest): Promise<void> {
    await this.store.put(this.key(manifestName(m.id)), Readable.from([serializeManifest(m)]));
  }

  /** Deletes a backup: the manifest first, so it stops existing at once; an artifact left behind is an orphan. */
  async delete(m: Pick<Manifest, 'id' | 'artifact'>): Promise<void> {
    await this.store.delete(this.key(manifestName(m.id)));
    await this.store.delete(this.key(m.artifact));
  }

  /**
   * Deletes backups that go together (a full backup and the segments of its chain): every manifest first, in the
   * order given, so each stops existing at once; then their files (a file left behind is an orphan). Returns the ids
   * whose manifest was gone already, deleted meanwhile by another reshifter (a local store; S3 cannot tell: none).
   */
  async deleteAll(ms: ReadonlyArray<Pick<Manifest, 'id' | 'artifact'>>): Promise<Set<string>> {
    const gone = new Set<string>();
    for (const m of ms) if ((await this.store.delete(this.key(manifestName(m.id)))) === false) gone.add(m.id);
    for (const m of ms) await this.store.delete(this.key(m.artifact));
    return gone;
  }

  /** Deletes an orphaned file: false when it was gone already (a local store; S3 cannot tell, and says true). */
  async deleteObject(key: string): Promise<boolean> {
    return (await this.store.delete(key)) !== false;
  }
}

/** True when `err` (or an error it wraps) says that the object is not in the store (any more). */
function isGone(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if ((e instanceof StoreError && e.kind === 'not-found') || (e as NodeJS.ErrnoException).code === 'ENOENT') return true;
  }
  return false;
}

/** `location holds the backups of cluster X: set RS_CLUSTER_NAME ...`: where a cluster without backups should look. */
export function otherClusters(location: string, others: readonly string[]): string {
  const which = others.length === 1 ? `cluster ${others[0]!}: set RS_CLUSTER_NAME (or --cluster) to it` : `clusters ${others.join(', ')}: set RS_CLUSTER_NAME (or --cluster) to one of them`;
  return `${location} holds the backups of ${which}`;
}

/**
 * A manifest that reads, but of a backup of another cluster than the one whose folder holds it: copied there from the
 * folder of its own cluster (a sync into the wrong folder), or the folder renamed. Never read as this cluster's: its
 * `latest` would restore another cluster's data.
 */
export class OtherClusterError extends IntegrityError {
  override name = 'OtherClusterError';
  constructor(
    key: string,
    /** The cluster the manifest names. */
    readonly owner: string,
    folder: string,
  ) {
    super(
      'manifest',
      `${key} is of a backup of cluster ${printable(owner)}, not of cluster ${printable(folder)} whose folder holds it (copied from the folder of cluster ` +
        `${printable(owner)}, or the folder renamed): a backup is read only in the folder named as its cluster`,
    );
  }
}

/** The one other cluster that every manifest in `invalid` names, when all of them are other-cluster manifests. */
export function onlyOtherCluster(invalid: Listing['invalid']): string | undefined {
  const owners = new Set(invalid.map((bad) => bad.cluster));
  const [owner] = owners;
  return owners.size === 1 && owner !== undefined ? owner : undefined;
}

/**
 * `<folder> holds N backups of cluster X ...`: backups of cluster `owner` found in folder `folder` of `store`, with how to
 * make them readable: their files moved into the folder named as their cluster, and RS_CLUSTER_NAME set to it.
 */
export function copiedText(store: Pick<Store, 'location' | 'localPath'>, folder: string, owner: string, count: number): string {
  const base = store.location.replace(/\/$/, '');
  const [from, to] = [`${base}/${folder}`, `${base}/${owner}`];
  const move = store.localPath !== undefined ? `mkdir -p ${sh(to)} && mv ${sh(from)}/* ${sh(to)}/` : `aws s3 mv --recursive ${sh(`${from}/`)} ${sh(`${to}/`)}`;
  const backups = count === 1 ? 'a backup' : `${count} backups`;
  return (
    `${from} holds ${backups} of cluster ${printable(owner)} (as ${count === 1 ? 'its manifest says' : 'their manifests say'}) in a folder named otherwise ` +
    `(copied there, or the folder renamed), and a backup is read only in the folder named as its cluster: move them there ` +
    `("${move}") and set RS_CLUSTER_NAME (or --cluster) to ${printable(owner)}`
  );
}

/** `path` as a shell word in a command the operator is told to run: quoted when it holds more than plain path characters. */
const sh = (path: string) => (/^[\w./@:+=,-]+$/.test(path) ? path : `'${printable(path).replaceAll("'", "'\\''")}'`);

/** A hint appended to a message: `; hint`, or nothing. */
const hinted = (hint: string) => (hint === '' ? '' : `; ${hint}`);

/** The manifests in `invalid` of backups newer than backup `id` (`''`: all of them), as `<key> (<why>)`. */
/**
 * Refuses `latest` = `m` when a backup newer than it (of `series`, when given) holds a content type this version does
 * not know: a newer reshifter wrote it, and `latest` naming the older backup without a word would restore (or read)
 * older state than the operator believes, as with a newer manifest that cannot be read (unreadableNewer).
 */
function newerKindRefusal(backups: readonly Manifest[], m: Manifest, use: BackupUse, series: string | undefined): void {
  if (use === USES.any) return;
  const newer = backups.filter((b) => b.id > m.id && kindOf(b.contentType) === 'other' && (series === undefined || inSeries(b, series)));
  if (newer.length === 0) return;
  newer.sort(newestFirst);
  throw new RefusedError(`"latest" would be backup ${m.id}, but this version cannot read a newer one: ${newerKindText(newer[0]!)}. Give the id ${m.id} instead of "latest" to use the older backup`);
}

export function unreadableNewer(invalid: Listing['invalid'], id: string): string[] {
  return invalid.filter((bad) => (idOfFile(basename(bad.key)) ?? '') > id).map((bad) => `${bad.key} (${bad.error})`);
}

async function readLimited(body: Readable, limit: number, key: string): Promise<Buffer> {
  let total = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      body.destroy();
      throw new IntegrityError('manifest', `${key}: larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}


/**
 * Refuses (UsageError: exit 2, before the store is read) every one of `given` that is not a backup id, or `latest`
 * where it is taken: a typo, a path, `..` or an empty word can never name a backup, so looking one up would only turn
 * a mistake on the command line into a "not found".
 */
export function checkBackupIds(given: readonly string[], opts: { latest?: boolean } = {}): void {
  const latest = opts.latest ?? true;
  const bad = given.filter((id) => !BACKUP_ID_RE.test(id) && !(latest && id === 'latest'));
  if (bad.length > 0) throw new UsageError(bad.map((id) => notAnId(id, latest)));
}

/**
 * Why `given` is no backup id, with what the operator most likely meant: a file name from the store (`ls` of the
 * folder shows artifacts and manifests), or a snapshot file on this machine (as `etcdctl snapshot restore` takes one).
 */
function notAnId(given: string, latest: boolean): string {
  const base = `"${printable(given)}" is not a backup id (like 20261122T030710.123Z-a1b2c3${latest ? ', or "latest"' : ''})`;
  const id = idOfFile(basename(given));
  if (id !== undefined) return `${base}: it names a file of backup ${id}; give that id`;
  const found = statOf(given);
  if (found?.isDirectory()) return `${base}: it is a folder on this machine; backups are read from the store ("reshifter list" shows them)`;
  if (found) {
    return `${base}: it is a file on this machine; backups are read from the store ("reshifter list" shows them), and "reshifter inspect ${printable(given)}" reads a snapshot file`;
  }
  const denied = unreachablePath(given);
  if (denied !== undefined) return `${base}, and if it is a file here, ${denied}`;
  if (given.includes('/') || /\.(db|gz|zst|age|zip|tar)$/.test(given)) return `${base}, nor a file here (no such file)`;
  return base;
}

/** What is at `path` on this machine, if anything (an error reading it counts as nothing). */
function statOf(path: string): Stats | undefined {
  try {
    return path === '' ? undefined : statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** A backup whose artifact restores nothing, as Listing['unusable'] holds it. */
export type UnusableBackup = Listing['unusable'][number];

/**
 * Why backup `u` restores nothing, in the one phrasing `list`, `restore` and the API use: `its artifact X is missing
 * from the store, so it restores nothing`, or `... differs in size from its manifest: expected N bytes, found M, ...`.
 */
export function unusableText(u: UnusableBackup): string {
  const what = u.storedBytes === undefined ? 'is missing from the store' : `differs in size from its manifest: expected ${u.sizeBytes} bytes, found ${u.storedBytes}`;
  return `its artifact ${u.artifact} ${what}, so it restores nothing`;
}

/** The newest backup `q` asks for whose artifact is whole, if any: in a recovery, the id to give instead. */
function newestWhole(backups: readonly Manifest[], unusable: Listing['unusable'], q: LatestQuery): Manifest | undefined {
  const bad = new Set(unusable.map((x) => x.id));
  try {
    return pickLatest(backups.filter((m) => !bad.has(m.id)), q);
  } catch {
    return undefined;
  }
}

/** `the newest whole one is X (snapshot, taken T): give its id instead`, or that there is none. */
function insteadText(next: Manifest | undefined, ofLatest: boolean): string {
  if (next === undefined) return `no ${ofLatest ? 'older ' : ''}backup of that kind is whole`;
  return `the newest whole one is ${next.id} (${next.strategy}, taken ${next.createdAt}): give its id instead${ofLatest ? ' of "latest"' : ''}`;
}

/**
 * `latest` refused because its artifact is missing or cut short (it restores nothing), naming the newest backup of the
 * same kind whose artifact is whole.
 */
function unusableLatest(u: UnusableBackup, backups: readonly Manifest[], unusable: Listing['unusable'], q: LatestQuery): RefusedError {
  return new RefusedError(`"latest" would be backup ${u.id}, but ${unusableText(u)}; ${insteadText(newestWhole(backups, unusable, q), true)}`);
}
