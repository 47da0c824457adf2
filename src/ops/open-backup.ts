import { tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import type { CodecKeys } from '../archive/codec.js';
import { readKeyDump, readKeyDumpBatches, type DumpItem } from '../archive/key-dump-reader.js';
import { assertDecodable, copyVerified, holdVerified, verifyInPlace, type VerifiedCopy } from '../archive/local-copy.js';
import type { Manifest } from '../archive/manifest.js';
import { readRenderListing } from '../archive/render-listing.js';
import { snapshotError } from '../archive/snapshot-error.js';
import { decodeSnapshotCopy } from '../archive/snapshot-file.js';
import { SnapshotTrailerCheck } from '../archive/snapshot-trailer.js';
import { workAreaError } from '../archive/work-area.js';
import { kindOf } from '../core/backup-kind.js';
import { AbortedError, OperationError, describeError } from '../core/errors.js';
import type { AuditRow } from '../kube/audit-row.js';
import type { Logger } from '../log.js';
import { formatBytes, readCounted } from '../progress.js';
import type { SnapshotReader } from '../snapshot/index.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { namingBackupOf } from './content-errors.js';
import { spillAreaIn } from './spill-area.js';
import { stopSignal } from './stop-signal.js';

interface Opened {
  manifest: Manifest;
  /** Removes the temporary copy (and closes a snapshot's reader); call it whatever happened. */
  close(): Promise<void>;
}

/** A snapshot backup, decoded into a private temporary file. */
export interface SnapshotBackup extends Opened {
  kind: 'snapshot';
  /** The decoded snapshot (bbolt file and etcd's trailer), 0600 in a 0700 folder: what etcdutl restores from. */
  file: string;
  /** The offline reader of `file`, opened on first use; its errors name the backup. */
  reader(): Promise<SnapshotReader>;
}

/** A key dump, read from its verified local copy as often as the caller needs. */
export interface KeyDumpBackup extends Opened {
  kind: 'key dump';
  /** One pass over the dump: its header, then every key in the dump's order. Each call reads the copy again. */
  items(): AsyncIterable<DumpItem>;
  /** The same pass as `items`, in the batches the reader parsed them (see readKeyDumpBatches). */
  batches(): AsyncIterable<DumpItem[]>;
}

/** A render listing: audit rows, no values. */
export interface RenderListingBackup extends Opened {
  kind: 'render listing';
  rows(): AsyncIterable<AuditRow>;
}

/** A container checkpoint: the archive as the kubelet wrote it. */
export interface CheckpointBackup extends Opened {
  kind: 'container checkpoint';
  /** The archive's bytes, decrypted and decompressed from the verified copy; each call reads the copy again. */
  archive(): Readable;
}

/** What a stored backup holds, opened for reading. */
export type OpenedBackup = SnapshotBackup | KeyDumpBackup | RenderListingBackup | CheckpointBackup;

export interface OpenBackupOptions {
  /**
   * The command or job the backup is read for (`stats`, `restore`), named when SIGTERM/SIGINT stops the read: 'stats of
   * backup <id> stopped: received SIGTERM', never a failure to read it, which would sound like a damaged backup.
   */
  purpose?: string;
  /**
   * Snapshots: the decoded stream must end in etcd's matching sha256 trailer (IntegrityError `trailer`), the
   * default. `false` leaves the trailer to the reader, which reports its state (`inspect`).
   */
  checkTrailer?: boolean;
  /**
   * Where the read is said when it starts (`reading backup <id> (<strategy>, revision R, <size>) from <store>`: a
   * download and decode of a large snapshot lasts seconds before any progress line) and where a long download (S3)
   * and a snapshot's decoding report progress (see reportProgress).
   */
  log?: Logger;
}

/**
 * Opens a stored backup: the one way every reader gets at a backup's content. It refuses before any download when
 * the backup cannot be decoded with `keys` (encrypted, and no identity), downloads the stored bytes into a private
 * temporary folder while checking size and sha256 against the manifest (IntegrityError otherwise), and then gives
 * what the backup holds. Nothing reads a backup's content before that check has passed.
 */
export async function openBackup(
  repo: BackupRepository,
  m: Manifest,
  keys: CodecKeys,
  signal?: AbortSignal,
  opts: OpenBackupOptions = {},
): Promise<OpenedBackup> {
  const kind = kindOf(m.contentType);
  if (kind === 'other') throw new OperationError(`backup ${m.id} holds ${m.contentType}, which this version of reshifter cannot read`);
  // A segment holds changes, not a state: it is read with its chain (a restore --to), never on its own.
  if (kind === 'delta segment') throw new OperationError(`backup ${m.id} is a delta segment of the chain of ${String((m as { base?: unknown }).base)}: restore or verify it with its chain`);
  assertDecodable(m, keys);
  const checkTrailer = opts.checkTrailer !== false;
  const revision = m.etcd?.revision;
  opts.log?.info(
    { backup: m.id, strategy: m.strategy, ...(revision !== undefined && { revision }), sizeBytes: m.sizeBytes, for: opts.purpose },
    `reading backup ${m.id} (${m.strategy}${revision !== undefined ? `, revision ${revision}` : ''}, ${formatBytes(m.sizeBytes)}) from ${repo.store.location}`,
  );
  // However the read was cut off (a download, a read in place, a decode; a stream of the copy later), one message.
  const stopped = (cause?: unknown) => new AbortedError(`${opts.purpose ?? 'the read'} of backup ${m.id} stopped: ${describeError(signal?.reason)}`, { cause });
  const copy = await stage(repo, m, signal, { snapshot: kind === 'snapshot', trailer: kind === 'snapshot' && checkTrailer, log: opts.log }).catch(async (err: unknown) => {
    throw signal?.aborted ? stopped(err) : await repo.deletedWhileRead(m, err);
  });
  const close = () => copy.remove();
  const open = () => stopOn(copy.open(keys), signal, stopped);
  try {
    switch (kind) {
      case 'snapshot': {
        // Its keys are walked offline, by no stream the signal stops: the walk stops itself, in the same words.
        const walk = signal && stopSignal(signal, stopped);
        const workDir = repo.workDir ?? tmpdir();
        if (copy.inPlace) return snapshotBackup(copy.path, m, close, walk, workDir);
        const decoding = { ...copy, open: (k: CodecKeys) => readCounted(copy.open(k), { log: opts.log, what: 'decode', total: m.rawSizeBytes }) };
        return await decodeSnapshot(decoding, m, keys, signal, checkTrailer, workDir, walk);
      }
      case 'key dump':
        return { kind, manifest: m, items: () => namingBackupOf(readKeyDump(open()), m), batches: () => namingBackupOf(readKeyDumpBatches(open()), m), close };
      case 'render listing':
        return { kind, manifest: m, rows: () => namingBackupOf(readRenderListing(open()), m), close };
      case 'container checkpoint':
        return { kind, manifest: m, archive: open, close };
    }
  } catch (err) {
    await close();
    throw signal?.aborted ? stopped(err) : err;
  }
}

/** `stream`, destroyed with `stopped()` once `signal` aborts: a reader of it stops with the command's own words. */
function stopOn(stream: Readable, signal: AbortSignal | undefined, stopped: (cause?: unknown) => Error): Readable {
  if (signal === undefined) return stream;
  if (signal.aborted) return stream.destroy(stopped());
  const onAbort = () => void stream.destroy(stopped());
  signal.addEventListener('abort', onAbort, { once: true });
  stream.once('close', () => signal.removeEventListener('abort', onAbort));
  return stream;
}

/**
 * The backup's bytes, checked against the manifest, where readers can read them as often as they need: in a local
 * store the store's own file (no second copy: README, Work area), read in place by path when it holds the content as
 * it is and else through a handle held open since the check; in S3 a copy in the work area (RS_TMP_DIR).
 * `trailer`: the in-place read checks etcd's sha256 trailer in the same pass, as decoding a copy does. A download
 * reports progress to `log`.
 */
async function stage(
  repo: BackupRepository,
  m: Manifest,
  signal: AbortSignal | undefined,
  { snapshot, trailer, log }: { snapshot: boolean; trailer: boolean; log: Logger | undefined },
): Promise<VerifiedCopy> {
  const plain = repo.plainLocalArtifact(m);
  if (plain !== undefined) {
    return verifyInPlace(plain, m, { ...(signal && { signal }), checks: trailer ? [new SnapshotTrailerCheck()] : [] }).catch((err: unknown) => {
      throw snapshotError(err, `backup ${m.id}`);
    });
  }
  const local = repo.localArtifact(m);
  // A snapshot is decoded into a file of its own (the reader seeks in it): in the work area.
  if (local !== undefined) return holdVerified(local, m, { ...(signal && { signal }), ...(snapshot && { workDir: repo.workDir ?? tmpdir() }) });
  return copyVerified(readCounted(await repo.openArtifact(m, signal), { log, what: 'download', total: m.sizeBytes }), m, signal, repo.workDir, repo.artifactAddress(m));
}

/**
 * The reader finds a damaged page only when a walk reaches it: errors of decoding, opening and walking name the backup;
 * the decoded file is written into the work area (`workDir`), whose lack of room is named as such.
 */
async function decodeSnapshot(
  copy: VerifiedCopy,
  m: Manifest,
  keys: CodecKeys,
  signal: AbortSignal | undefined,
  checkTrailer: boolean,
  workDir: string,
  walk: AbortSignal | undefined,
): Promise<SnapshotBackup> {
  const what = `backup ${m.id}`;
  const file = await decodeSnapshotCopy(copy, keys, { checkTrailer, ...(signal && { signal }) }).catch((err: unknown) => {
    throw snapshotError(workAreaError(err, workDir, `cannot stage ${what}`), what);
  });
  return snapshotBackup(file, m, () => copy.remove(), walk, workDir);
}

/**
 * A snapshot file opened lazily by the offline reader; `release` removes what was staged for it. Its walks of keys
 * stop once `walk` aborts, with its reason, and write what does not fit in memory into the work area `workDir`.
 */
function snapshotBackup(file: string, m: Manifest, release: () => Promise<void>, walk: AbortSignal | undefined, workDir: string): SnapshotBackup {
  const what = `backup ${m.id}`;
  let reader: Promise<SnapshotReader> | undefined;
  return {
    kind: 'snapshot',
    manifest: m,
    file,
    reader: () =>
      // Loaded on first use: a key dump's restore does not load the snapshot reader (nor its CRC module).
      (reader ??= import('../snapshot/index.js')
        .then(({ openSnapshot }) => openSnapshot(file, { ...(walk && { signal: walk }), spillArea: spillAreaIn(workDir) }))
        .catch((err: unknown) => {
          throw snapshotError(err, what);
        })),
    async close() {
      const open = await reader?.catch(() => undefined);
      await open?.close().catch(() => undefined);
      await release();
    },
  };
}
