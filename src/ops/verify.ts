import type { Manifest } from '../archive/manifest.js';
import { assertReadable } from '../archive/codec.js';
import { verifyArtifact, type Check } from '../archive/verify-artifact.js';
import { snapshotCheck, verifySnapshotArtifact, walkWatch } from '../archive/verify-snapshot.js';
import { SNAPSHOT_CONTENT_TYPE } from '../core/content-type.js';
import { AbortedError, IntegrityError, OperationError, describeError } from '../core/errors.js';
import { counted } from '../core/counted.js';
import { printable } from '../core/printable.js';
import { readCounted } from '../progress.js';
import { openCheckedGoZip } from './go-backup-file.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { OpContext } from './context.js';
import { encryptionKeys } from './encryption-keys.js';
import { openSnapshotInput } from './open-snapshot.js';

/** What a verify found: every check, passed or not. */
export interface VerifyResult {
  id: string;
  ok: boolean;
  checks: Check[];
}

export interface VerifyOptions {
  /** Told the stored bytes read so far, as they are read (API jobs). */
  onBytes?: (bytes: number) => void;
}

/**
 * Re-reads a backup once and checks it against its manifest (archive/verify-artifact.ts); a snapshot's file is walked
 * as a whole too. Resolves with the checks whatever they found: a failed check is a result, not an error.
 */
export async function verifyBackup(ctx: OpContext, repo: BackupRepository, m: Manifest, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const keys = await encryptionKeys(ctx.config, { forReading: true });
  // Without a key the content cannot be checked: a setting is missing, the backup did not fail a check.
  assertReadable(m, keys);
  let opened;
  try {
    opened = await repo.openArtifact(m, ctx.signal);
  } catch (err) {
    // An artifact that is missing is a failed check of this backup, named under it as the others are.
    if (err instanceof IntegrityError && err.check === 'read') return { id: m.id, ok: false, checks: [{ name: 'read', ok: false, detail: err.message.replace(`read: backup ${m.id}: `, '') }] };
    throw err;
  }
  const stored = readCounted(opened, { log: ctx.log, what: 'verify', total: m.sizeBytes, ...(opts.onBytes && { onBytes: opts.onBytes }) });
  // A local, uncompressed, unencrypted snapshot is walked where it is; any other is staged in RS_TMP_DIR.
  const inPlace = repo.plainLocalArtifact(m);
  const place = { ...(inPlace !== undefined && { inPlace }), ...(repo.workDir !== undefined && { workDir: repo.workDir }), log: ctx.log };
  const checks =
    m.contentType === SNAPSHOT_CONTENT_TYPE ? await verifySnapshotArtifact(stored, m, keys, ctx.signal, place) : await verifyArtifact(stored, m, keys, ctx.signal);
  // A read cut off by SIGTERM/SIGINT fails a check ("The operation was aborted"): the backup was not found damaged,
  // it was not checked in full, and saying it failed verification would raise an alarm about a good backup.
  if (ctx.signal.aborted) {
    throw new AbortedError(`verify of backup ${m.id} stopped: ${describeError(ctx.signal.reason)}; the backup was not checked in full`);
  }
  // Bytes that are not the manifest's name where they were read: the store's object, or what the endpoint made of it.
  const from = repo.artifactAddress(m);
  const named = checks.map((c) => (!c.ok && (c.name === 'size' || c.name === 'sha256') ? { ...c, detail: `${c.detail} (read from ${from})` } : c));
  return { id: m.id, ok: checks.every((c) => c.ok), checks: named };
}

/** What a verify of a snapshot file found (`verify FILE`). */
export interface FileVerifyResult {
  file: string;
  ok: boolean;
  checks: Check[];
}

/**
 * Checks a backup of the Go Reshifter (`<id>.zip`, see archive/go-reshifter-zip.ts) as a restore checks it before
 * writing: every entry's path, order, method, size and CRC-32. `name` is the file as printed (a store's address when it
 * was downloaded). A check that fails is a result, named as restore names it; a stop (SIGTERM) is an error.
 */
export async function verifyGoZipFile(ctx: OpContext, path: string, name = path, id?: string): Promise<FileVerifyResult & { id?: string }> {
  const check = 'Go Reshifter zip';
  try {
    const { summary } = await openCheckedGoZip(ctx.log, path, name, ctx.signal, { command: 'verify', ...(id !== undefined && { id }) });
    const detail = `backup ${summary.id}: ${counted(summary.keys, 'key')} under ${summary.prefixes.join(', ')}, ${summary.valueBytes} bytes of values; every entry's path, order, size and CRC-32 checked`;
    return { file: name, id: summary.id, ok: true, checks: [{ name: check, ok: true, detail }] };
  } catch (err) {
    if (err instanceof AbortedError || !(err instanceof OperationError)) throw err;
    return { file: name, ok: false, checks: [{ name: check, ok: false, detail: err.message }] };
  }
}

/**
 * Checks a snapshot file on this machine (`etcdctl snapshot save`'s, k3s's, a stored artifact copied out; gzip, zstd,
 * age or zip decoded in the work area first) as `verify` checks a snapshot backup's file: both meta pages, size and
 * etcd's sha256 trailer, freelist, every page of every bucket, etcd's key bucket. Nothing is written but the decoded
 * copy, which is removed. A file that is no snapshot at all fails (IntegrityError); failed checks are a result.
 */
export async function verifySnapshotFile(ctx: OpContext, path: string): Promise<FileVerifyResult> {
  const input = await openSnapshotInput(ctx, path, undefined, 'verify');
  try {
    const stopped = () => new AbortedError(`verify of ${printable(path)} stopped: ${describeError(ctx.signal.reason)}; the file was not checked in full`);
    // `walk` progress while it lasts, as for a snapshot backup: a 4 GB file takes tens of seconds; a stop ends it.
    const checks = (await input.reader.verify(walkWatch(ctx.log)).catch((err: unknown) => Promise.reject(ctx.signal.aborted ? stopped() : err))).map(snapshotCheck);
    if (ctx.signal.aborted) throw stopped();
    return { file: path, ok: checks.every((c) => c.ok), checks };
  } finally {
    await input.close();
  }
}

