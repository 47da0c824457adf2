import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { SEGMENT_HEADER_ENTRY } from '../archive/delta-segment-format.js';
import { HEADER_ENTRY } from '../archive/key-dump-format.js';
import { etcdOf } from '../archive/manifest.js';
import { snapshotError } from '../archive/snapshot-error.js';
import { DecodeRoomError, decodeCap, workAreaError } from '../archive/work-area.js';
import { kindOf } from '../core/backup-kind.js';
import { SNAPSHOT_CONTENT_TYPE } from '../core/content-type.js';
import { idOfFile, manifestName } from '../core/naming.js';
import type { Config } from '../config/types.js';
import { AbortedError, IntegrityError, OperationError, abortedBySignal, describeError } from '../core/errors.js';
import { printable } from '../core/printable.js';
import { makeTempDir, trackTempPath } from '../exit-cleanup.js';
import { readCounted } from '../progress.js';
import type { OpContext } from './context.js';
import type { KeysInput, SnapshotInput, SnapshotOrigin } from './keys-input.js';
import { spillAreaIn } from './spill-area.js';
import { stopSignal } from './stop-signal.js';

export type { KeyReader, KeysInput, SnapshotInput, SnapshotOrigin } from './keys-input.js';


/**
 * What reads a backup `inspect` cannot (every kind a reshifter wrote, from the first version on): an operator who
 * gives inspect a render listing, a delta segment or a checkpoint is told which command reads it instead.
 */
function notSnapshotHint(m: { id: string; contentType: string; base?: string | undefined }): string {
  switch (kindOf(m.contentType)) {
    case 'key dump':
      return ': `inspect` shows the status of snapshots; for a key dump use `stats`, or `inspect --keys`, `--get KEY` or `--render`';
    case 'render listing':
      return `: \`inspect\` reads snapshots and key dumps; a render listing is read by \`stats ${m.id}\``;
    case 'delta segment': {
      const base = m.base === undefined ? 'its full backup' : `backup ${m.base}`;
      return `: it holds the changes recorded after ${base}; \`inspect\` reads that backup, \`restore ... --to\` applies the changes, \`verify --chain\` checks them`;
    }
    case 'container checkpoint':
      return `: a container checkpoint is read by \`verify ${m.id}\` and \`restore ${m.id} --image-archive FILE\``;
    default:
      return '';
  }
}

/**
 * True when `target` is a file on this machine: a snapshot file (etcdctl's, k3s's) that inspect, stats, verify, diff
 * and `restore --keys` read instead of a backup of the store.
 */
export async function isFile(target: string): Promise<boolean> {
  // A pipe is read as a file too: `reshifter inspect /dev/stdin < snap`, `... | reshifter inspect /dev/stdin`, `<(...)`.
  return stat(target).then((s) => s.isFile() || s.isFIFO(), () => false);
}

/**
 * Opens `target` for `inspect` (or `command`, as messages name it: `stats of FILE stopped`): a path that exists as a
 * file is read in place (a snapshot with or without etcd's trailer, or a raw member/snap/db); anything else is a backup
 * id in the configured store, or `latest`: the newest snapshot backup (of `series`, asked for only when `target` is not
 * a file). A backup is downloaded, checked and decoded to a private temporary file; its trailer is left to the
 * reader, which reports its state.
 */
export async function openSnapshotInput(ctx: OpContext, target: string, series: () => string | undefined = () => undefined, command = 'inspect'): Promise<SnapshotInput> {
  return openInput(ctx, target, series, false, command) as Promise<SnapshotInput>;
}

/**
 * Opens `target` for the key modes of `inspect`: as openSnapshotInput, and a key dump backup too (`raw`, `filter:`),
 * read as the live keys of its one revision: `latest` is then the newest snapshot or key dump.
 */
export async function openKeysInput(ctx: OpContext, target: string, series: () => string | undefined = () => undefined): Promise<KeysInput> {
  return openInput(ctx, target, series, true);
}

async function openInput(ctx: OpContext, target: string, series: () => string | undefined, keyDumps: boolean, command = 'inspect'): Promise<SnapshotInput | KeysInput> {
  if (await isFile(target)) {
    // A snapshot (the usual file) is known by its first bytes, before the zip reader loads: a status is short.
    if (!(await mayBeZip(target))) return openSnapshotFile(ctx, target, command);
    const { isGoReshifterZip } = await import('../archive/go-reshifter-zip.js');
    if (!(await isGoReshifterZip(target))) return openSnapshotFile(ctx, target, command);
    if (keyDumps) return (await import('./go-zip-keys-input.js')).goZipKeysInput(ctx, target);
    const { OperationError } = await import('../core/errors.js');
    throw new OperationError(
      `${printable(target)} is a backup of the Go Reshifter, not an etcd snapshot: \`inspect\` shows the status of snapshots; ` +
        `for it use \`stats ${printable(target)}\`, or \`inspect ${printable(target)} --keys\`, \`--get KEY\` or \`--render\``,
    );
  }
  // Loaded only for a backup: the store, its SDKs and the codecs cost more to load than a status of a file takes.
  const [{ openRepository }, { openBackup }, { USES }, { encryptionKeys }, { OperationError }] = await Promise.all([
    import('./repository.js'),
    import('./open-backup.js'),
    import('../core/latest.js'),
    import('./encryption-keys.js'),
    import('../core/errors.js'),
  ]);
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const use = keyDumps ? USES.inspectKeys : USES.inspect;
    const m = await repo.get(target, use, series());
    if (m.contentType !== SNAPSHOT_CONTENT_TYPE && !(keyDumps && kindOf(m.contentType) === 'key dump')) {
      throw new OperationError(`backup ${m.id} is a ${m.strategy} backup (${m.contentType}), not an etcd snapshot${notSnapshotHint(m)}`);
    }
    // Refused before the artifact is read, in list's words: read late it failed with "missing, though its manifest is there".
    if (target !== 'latest') await repo.checkWhole(m, use, series());
    const backup = await openBackup(repo, m, await encryptionKeys(ctx.config, { forReading: true }), ctx.signal, { purpose: 'inspect', checkTrailer: false, log: ctx.log });
    if (backup.kind === 'key dump') return await (await import('./dump-key-reader.js')).dumpKeysInput(backup);
    if (backup.kind !== 'snapshot') throw new OperationError(`backup ${m.id} is not an etcd snapshot`);
    try {
      const reader = await backup.reader();
      return { reader, origin: { kind: 'backup', id: m.id, strategy: m.strategy, revision: etcdOf(m).revision }, close: () => backup.close() };
    } catch (err) {
      await backup.close();
      throw err;
    }
  } finally {
    await repo.store.close();
  }
}

/** What a file that is not a bare snapshot may be wrapped in: a layer decoded first, or one to name. */
export type Wrapping = 'gzip' | 'zstd' | 'age' | 'age-armor' | 'zip';

const MAGIC: ReadonlyArray<[Wrapping, Buffer]> = [
  ['gzip', Buffer.from([0x1f, 0x8b])],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['age', Buffer.from('age-encryption.org/v1\n')],
  ['age-armor', Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----')],
  ['zip', Buffer.from('PK\x03\x04', 'latin1')],
  // A zip of no file is its end record alone.
  ['zip', Buffer.from('PK\x05\x06', 'latin1')],
];

/** Compressions an operator may use that reshifter does not read, by their magic: named rather than called a damaged bbolt file. */
const FOREIGN: ReadonlyArray<['xz' | 'bzip2' | 'lz4', Buffer]> = [
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['bzip2', Buffer.from('BZh', 'latin1')],
  ['lz4', Buffer.from([0x04, 0x22, 0x4d, 0x18])],
];

/** What to say of `path` (`name`) when it is compressed with one of FOREIGN; undefined for anything else. */
export async function foreignCompression(path: string, name: string): Promise<string | undefined> {
  const head = await readStart(path, 8);
  const tool = FOREIGN.find(([, m]) => head.length >= m.length && head.subarray(0, m.length).equals(m))?.[0];
  if (tool === undefined) return undefined;
  return `${name} is compressed with ${tool}, which reshifter does not read (it reads gzip, zstd, age and zip files): decompress it first ("${tool} -dc ${name} > snapshot.db") and give reshifter snapshot.db`;
}

/**
 * Whether `path` may be a zip (a Go Reshifter backup): a regular file that begins as one, or a pipe, whose first bytes
 * are not read here (they would be gone). A file that cannot be read is not one: the snapshot reader says why (its
 * mode and owner when EACCES), as isGoReshifterZip's false did.
 */
async function mayBeZip(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return true;
    return wrappingOfBytes(await readStart(path, 64)) === 'zip';
  } catch {
    return false;
  }
}

/** What `path` is wrapped in (compression, encryption, a zip), by its first bytes; undefined for a bare snapshot. */
export async function wrappingOf(path: string): Promise<Wrapping | undefined> {
  return wrappingOfBytes(await readStart(path, 64));
}

/**
 * What bytes that begin with `head` are wrapped in, by their magic; undefined for none known. zstd data may begin with
 * a skippable frame (magic 0x184d2a50..5f): `pzstd` writes one before each frame (a bbolt file begins with page id 0).
 */
function wrappingOfBytes(head: Buffer): Wrapping | undefined {
  if (head.length >= 4 && (head.readUInt32LE(0) & 0xfffffff0) >>> 0 === 0x184d2a50) return 'zstd';
  return MAGIC.find(([, m]) => head.length >= m.length && head.subarray(0, m.length).equals(m))?.[0];
}

/**
 * A snapshot file read in place, or, when it is gzip- or zstd-compressed, age-encrypted (`gzip snapshot.db`, a stored
 * artifact copied out of the store) or a zip of one file (k3s's `--etcd-snapshot-compress`), decoded layer by layer
 * into a private temporary file first (in the work area, RS_TMP_DIR; deleted on close). An ASCII-armored age file is
 * named, with what to do.
 */
async function openSnapshotFile(ctx: OpContext, target: string, command: string): Promise<SnapshotInput> {
  let path = target;
  let dir: string | undefined;
  let release = () => undefined as void;
  const removeDir = async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true }).then(release);
  };
  const workDir = ctx.config.workDir ?? tmpdir();
  // Named in messages as keys are printed: a path may hold a newline or ESC.
  const name = printable(target);
  const workArea = async (): Promise<string> => {
    if (dir === undefined) {
      try {
        dir = await makeTempDir(workDir);
      } catch (err) {
        throw new OperationError(`cannot decode ${name} in the work area ${workDir} (RS_TMP_DIR): ${describeError(err)}`, { cause: err });
      }
      release = trackTempPath(dir);
    }
    return dir;
  };
  try {
    // A pipe is read once, from its start: copied into the work area first, then read as a file is.
    if (!(await stat(target)).isFile()) path = await copyPipe(ctx, target, join(await workArea(), 'piped'), workDir, command);
    for (let layer = 0; ; layer++) {
      const wrapping = await wrappingOf(path);
      if (wrapping === undefined) break;
      if (wrapping === 'age-armor') {
        throw new OperationError(`${name} is ASCII-armored age: decrypt it first (age -d -i KEY ${name} > snapshot.db)`);
      }
      if (layer === 3) throw new OperationError(`${name} is wrapped in more layers than a snapshot backup has (age, then gzip or zstd)`);
      const out = join(await workArea(), `layer-${layer}`);
      // Said as it starts, and `decode` progress while it lasts: a k3s zip of a large database takes a while.
      ctx.log.info({ file: name, wrapping, workArea: workDir }, `decoding ${name} (${wrapping}) into the work area`);
      if (wrapping === 'zip') await (await import('../archive/zip-entry.js')).unzipSingleFile(path, name, out, workDir, ctx.signal, ctx.log, command);
      else await decodeLayer(ctx, target, path, wrapping, out, workDir, command);
      // The layer before (an age file's decrypted but still compressed bytes) is not needed any more.
      if (path !== target) await rm(path, { force: true });
      path = out;
    }
    const foreign = await foreignCompression(path, name);
    if (foreign !== undefined) throw new OperationError(foreign);
    const artifact = await reshifterArchiveOf(path, target);
    if (artifact !== undefined) throw new OperationError(artifact);
    // The file's keys are walked offline, by no stream the signal stops: the walk stops itself, as a backup's does.
    const stopped = () => new AbortedError(`${command} of ${name} stopped: ${describeError(ctx.signal.reason)}`);
    // Loaded here, not with this module: restore loads this module for snapshot files, a key dump's restore never reads one.
    const { openSnapshot } = await import('../snapshot/index.js');
    const reader = await openSnapshot(path, { signal: stopSignal(ctx.signal, stopped), spillArea: spillAreaIn(workDir) });
    const origin: SnapshotOrigin = { kind: 'file', path: target };
    return { reader, origin, close: () => reader.close().finally(removeDir) };
  } catch (err) {
    await removeDir();
    throw err instanceof OperationError ? err : snapshotError(err, name);
  }
}

/**
 * What to say of a file that is a reshifter key dump or delta segment (a tar whose first entry is the archive's
 * header; an artifact copied out of the store, decoded): not a damaged snapshot, as the bbolt reader would call it, but
 * a backup to read by its id. Undefined for anything else.
 */
async function reshifterArchiveOf(path: string, target: string): Promise<string | undefined> {
  const kind = archiveKind(await readStart(path, 512));
  return kind === undefined ? undefined : archiveText(kind, target);
}

/** A reshifter key dump or delta segment, by the first tar header of its decoded bytes; undefined for anything else. */
function archiveKind(head: Buffer): 'key dump' | 'delta segment' | undefined {
  if (head.length < 512 || head.toString('latin1', 257, 262) !== 'ustar') return undefined;
  const entry = head.toString('latin1', 0, 100).replace(/\0.*$/s, '');
  return entry === HEADER_ENTRY ? 'key dump' : entry === SEGMENT_HEADER_ENTRY ? 'delta segment' : undefined;
}

/** What to say of `target`, a reshifter archive of `kind` given where a snapshot file goes. */
function archiveText(kind: 'key dump' | 'delta segment', target: string): string {
  const id = idOfFile(basename(target));
  const byId = id !== undefined ? `backup ${id}` : 'the backup it came from';
  const reads =
    kind === 'key dump'
      ? `read it from the store by its id, as ${byId} (inspect --keys, --get KEY and --render, stats, diff and restore read key dumps), or with tar (README, Key dumps)`
      : `it holds changes, not keys: check it with "reshifter verify ${id ?? '<id>'}", restore with --to`;
  return `${printable(target)} is a reshifter ${kind} (tar), not an etcd snapshot: ${reads}; ${withManifest(id)}`;
}

/**
 * `restore FILE` without --keys, before naming etcd's snapshot restore: what to say when `path` is a reshifter key dump
 * or delta segment under any name (`aws s3 cp s3://.../<id>.raw.tar.zst ./dump.tar.zst`), plain or gzip/zstd, or
 * age-encrypted when `config` has a key that decrypts it, by the first bytes it decodes to (a peek: nothing is decoded
 * in full). Undefined for anything else, or one it cannot peek into.
 */
export async function reshifterArchiveFile(path: string, config?: Config): Promise<string | undefined> {
  const wrapping = await wrappingOf(path).catch(() => undefined);
  const head = wrapping === 'age' ? (config !== undefined ? await decryptedHead(path, config) : Buffer.alloc(0)) : await decodedHead(path, wrapping);
  const kind = archiveKind(head);
  return kind === undefined ? undefined : archiveText(kind, path);
}

/** The first bytes read, as much as a compressed layer's first block (at most 128 KiB for zstd) needs, and more. */
const PEEK_BYTES = 1024 * 1024;

/** Up to the first 512 bytes `path` decodes to (a gzip or zstd file's; a plain file's own); none for another wrapping. */
async function decodedHead(path: string, wrapping: Wrapping | undefined): Promise<Buffer> {
  if (wrapping !== undefined && wrapping !== 'gzip' && wrapping !== 'zstd') return Buffer.alloc(0);
  return decodeStart(await readStart(path, wrapping === undefined ? 512 : PEEK_BYTES).catch(() => Buffer.alloc(0)), wrapping);
}

/**
 * Up to the first 512 bytes an age-encrypted `path` decodes to with `config`'s keys (decrypted, then gunzipped or
 * unzstd'ed by the magic of what decrypting gives); none without a key, or with none that decrypts it.
 */
async function decryptedHead(path: string, config: Config): Promise<Buffer> {
  try {
    const { encryptionKeys } = await import('./encryption-keys.js');
    const keys = await encryptionKeys(config, { forReading: true });
    if (keys.decrypt === undefined) return Buffer.alloc(0);
    const plain = await peekThrough(keys.decrypt(undefined, { file: true }), await readStart(path, PEEK_BYTES), PEEK_BYTES / 2);
    const inner = wrappingOfBytes(plain);
    return inner === undefined || inner === 'gzip' || inner === 'zstd' ? await decodeStart(plain, inner) : Buffer.alloc(0);
  } catch {
    // A key file that cannot be read now: no peek, and the hint for any other file.
    return Buffer.alloc(0);
  }
}

/** The first `bytes` of the file at `path` (fewer when it is shorter). */
async function readStart(path: string, bytes: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  const raw = Buffer.alloc(bytes);
  const { bytesRead } = await fh.read(raw, 0, raw.length, 0).finally(() => fh.close());
  return raw.subarray(0, bytesRead);
}

/** The first 512 bytes of `raw` decompressed as `wrapping` says (raw's own when undefined). */
async function decodeStart(raw: Buffer, wrapping: 'gzip' | 'zstd' | undefined): Promise<Buffer> {
  if (wrapping === undefined) return raw.subarray(0, 512);
  return (await peekThrough(wrapping === 'gzip' ? zlib.createGunzip() : zlib.createZstdDecompress(), raw, 512)).subarray(0, 512);
}

/** What `decoder` gives for `input` until `bytes` of it came, it ended or it failed. */
function peekThrough(decoder: Duplex, input: Buffer, bytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve) => {
    const out: Buffer[] = [];
    let got = 0;
    const done = () => {
      decoder.destroy();
      resolve(Buffer.concat(out));
    };
    decoder.on('data', (c: Buffer) => (out.push(c), (got += c.length) >= bytes && done()));
    // The peek stops mid-stream: the error of a cut-short input is expected, and what was decoded stands.
    decoder.on('error', done).on('end', done);
    decoder.end(input);
  });
}

/**
 * What a backup's artifact copied out of the store alone lacks (`aws s3 cp s3://.../<id>.raw.tar.zst .`): its manifest,
 * which the store reads it by (its codec, size and sha256), and a folder named as its cluster to hold both.
 */
export function withManifest(id: string | undefined): string {
  const manifest = id !== undefined ? manifestName(id) : '<id>.manifest.json';
  return (
    `the file alone is not enough: copy its manifest ${manifest} from beside it in the store too, put both in a folder named as the cluster ` +
    `(its manifest's "cluster"), and set RS_BACKUP_DIR to the folder above that and RS_CLUSTER_NAME to the cluster`
  );
}

/** Artifact formats (`<id>.<format>[.zst|.gz][.age]`) other than a snapshot's, and what each holds. */
const NOT_SNAPSHOTS: Readonly<Record<string, string>> = {
  'raw.tar': 'key dump',
  'delta.tar': 'delta segment',
  'render.jsonl': 'render listing',
  'checkpoint.tar': 'container checkpoint',
};

/**
 * When `path` is named as the artifact of a backup that is no snapshot (`<id>.raw.tar.zst`, as the store keeps it, or
 * `dump.raw.tar.zst.age` with the id gone): what it is, and what reading it by its id needs. Undefined for any other name.
 */
export function nonSnapshotArtifact(path: string): string | undefined {
  const name = basename(path);
  const id = idOfFile(name);
  const format = /\.(raw\.tar|delta\.tar|render\.jsonl|checkpoint\.tar)(\.zst|\.gz)?(\.age)?$/.exec(name)?.[1];
  const kind = format === undefined ? undefined : NOT_SNAPSHOTS[format];
  if (kind === undefined || (id !== undefined && name.slice(id.length + 1).replace(/(\.zst|\.gz)?(\.age)?$/, '') !== format)) return undefined;
  if (id === undefined) {
    return `${printable(path)} is named as the artifact of a ${kind} (<id>.${format}...), not an etcd snapshot: a backup is restored by its id ("reshifter list" shows them); ${withManifest(undefined)}`;
  }
  return `${printable(path)} is named as the artifact of backup ${id}, a ${kind}, not an etcd snapshot: a backup is restored by its id ("reshifter restore ${id}"); ${withManifest(id)}`;
}

/** Copies the pipe `target` (stdin, `<(...)`) into `out` (0600), a file in the work area `workDir`; returns `out`. */
async function copyPipe(ctx: OpContext, target: string, out: string, workDir: string, command: string): Promise<string> {
  const BUFFER = 1024 * 1024;
  // A pipe has no size: stopped before it fills the work area's disk (`curl ... | reshifter verify /dev/stdin`).
  const cap = await decodeCap(workDir, printable(target), { copy: true });
  try {
    await pipeline(createReadStream(target, { highWaterMark: BUFFER }), cap, createWriteStream(out, { mode: 0o600, flags: 'wx', highWaterMark: BUFFER }), { signal: ctx.signal });
  } catch (err) {
    if (err instanceof DecodeRoomError) throw err;
    if (ctx.signal.aborted) throw new AbortedError(`${command} of ${printable(target)} stopped: ${describeError(ctx.signal.reason)}`);
    const full = workAreaError(err, workDir, `cannot copy ${printable(target)}`);
    if (full !== err) throw full;
    throw new OperationError(`cannot read ${printable(target)}: ${describeError(err)}`, { cause: err });
  }
  return out;
}

/** Decodes one layer of `path` (part of `target`) into `out` (0600), a file in the work area `workDir`. */
async function decodeLayer(ctx: OpContext, target: string, path: string, wrapping: 'gzip' | 'zstd' | 'age', out: string, workDir: string, command: string): Promise<void> {
  // Loaded only for such a file, as for a backup.
  const [{ decoders }, { encryptionKeys }] = await Promise.all([import('../archive/codec.js'), import('./encryption-keys.js')]);
  const age = wrapping === 'age';
  const name = printable(target);
  // decoders names the file and says what to set when it is encrypted and no key is configured.
  const steps: Duplex[] = decoders(
    { compression: age ? 'none' : wrapping, encryption: age ? 'age' : 'none', what: name },
    age ? await encryptionKeys(ctx.config, { forReading: true }) : {},
  );
  const BUFFER = 1024 * 1024;
  // No manifest says what the file decodes to: stopped before it fills the work area's disk.
  const cap = await decodeCap(workDir, name);
  try {
    await pipeline(
      [readCounted(createReadStream(path, { highWaterMark: BUFFER }), { log: ctx.log, what: 'decode', total: (await stat(path)).size }), ...steps, cap, createWriteStream(out, { mode: 0o600, flags: 'wx', highWaterMark: BUFFER })] as unknown as [Readable, ...Duplex[], Writable],
      { signal: ctx.signal },
    );
  } catch (err) {
    if (err instanceof DecodeRoomError) throw err;
    if (err instanceof IntegrityError) {
      // Named first, unless the decoder did (gzip's does; zstd's may name the file later, in what to run).
      const detail = err.message.slice(err.check.length + 2);
      throw detail.startsWith(name) ? err : new IntegrityError(err.check, `${name}: ${detail}`, { cause: err });
    }
    const full = workAreaError(err, workDir, `cannot decode ${name}`);
    if (full !== err) throw full;
    // Stopped (Ctrl-C), not a file that does not decode: said as the walk's stop is.
    const stopped = abortedBySignal(err, `${command} of ${name}`);
    if (stopped !== undefined) throw stopped;
    const what = age ? 'does not decrypt' : `does not decompress (${wrapping})`;
    throw new OperationError(`${name} ${what}: ${describeError(err)}`, { cause: err });
  }
}
