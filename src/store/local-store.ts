import { type Stats, constants, createReadStream, createWriteStream } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readdir, readlink, realpath, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { noRoomReason } from '../archive/work-area.js';
import { OperationError, StoreError, describeError } from '../core/errors.js';
import { deniedDetail } from '../core/writable-path.js';
import { trackTempPath } from '../exit-cleanup.js';
import { makeDirs } from '../make-dirs.js';
import { publishFile } from '../publish-new.js';
import type { Logger } from '../log.js';
import { isListedName, listedFolders } from './shown-names.js';
import type { GetOptions, ListOptions, ObjectInfo, Store } from './types.js';

/** Temporary files of puts in progress (or of a process that died): hidden from `list` unless asked for. */
export const TEMP_PREFIX = '.tmp-';
/** A put's temporary file: `.tmp-<8 hex>-<the name it becomes>`; group 1 is that name. */
export const TEMP_NAME = /^\.tmp-[0-9a-f]{8}-(.+)$/;
const WRITE_BUFFER = 1024 * 1024;

/** `put` with `noClobber` found an entry under the name already (made after any check of the caller's). */
export class ExistsError extends StoreError {
  override name = 'ExistsError';
  constructor(readonly path: string) {
    super(`${path} exists already`);
  }
}

/** Moves the finished `temp` to `target`; with `noClobber` refuses (ExistsError) any entry made there meanwhile. */
async function publish(temp: string, target: string, noClobber: boolean): Promise<void> {
  if (!(await publishFile(temp, target, noClobber))) throw new ExistsError(target);
}

/**
 * Copies the file `source` into the new file `temp` (0600, never an existing one) through one reused buffer. Stopped
 * by `signal` as a pipeline is (an AbortError with its reason as cause).
 */
async function copyFileInto(source: string, temp: string, signal?: AbortSignal): Promise<void> {
  const from = await open(source, 'r');
  try {
    const to = await open(temp, 'wx', 0o600);
    try {
      const buf = Buffer.allocUnsafe(WRITE_BUFFER);
      for (;;) {
        if (signal?.aborted) throw Object.assign(new Error('The operation was aborted'), { name: 'AbortError', cause: signal.reason });
        const { bytesRead } = await from.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        for (let done = 0; done < bytesRead; ) done += (await to.write(buf, done, bytesRead - done)).bytesWritten;
      }
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
}

/** A store in a local directory. Files and folders are created readable by their owner only (backups hold Secrets). */
export class LocalStore implements Store {
  readonly root: string;
  readonly location: string;
  /** The root's real path as last found: read once per store, found again only when a read would be refused by it. */
  private realRoot: Promise<string> | undefined;

  constructor(dir: string, private readonly log?: Logger) {
    this.root = resolve(dir);
    this.location = this.root;
  }

  /** Maps a store key to a path, refusing anything that would leave the root. */
  private pathOf(key: string): string {
    const parts = key.split('/');
    if (key.length === 0 || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\0') || p.includes(sep))) {
      throw new StoreError(`refusing store key ${JSON.stringify(key)}: not a plain relative path`);
    }
    return join(this.root, ...parts);
  }

  /** `noClobber`: refuse (ExistsError) rather than replace an entry under `key`, however recently it was made. */
  async put(key: string, body: Readable, opts: { signal?: AbortSignal; noClobber?: boolean } = {}): Promise<void> {
    const write = (temp: string) => pipeline(body, createWriteStream(temp, { mode: 0o600, flags: 'wx', highWaterMark: WRITE_BUFFER }), opts.signal ? { signal: opts.signal } : {});
    await this.putWritten(key, write, opts, body);
  }

  /**
   * `put` of the local file `source`, copied through one reused buffer: a stream of the file allocates a buffer per
   * chunk, which the process holds (tens of MB) until the garbage collector frees them.
   */
  async putFile(key: string, source: string, opts: { signal?: AbortSignal; noClobber?: boolean } = {}): Promise<void> {
    await this.putWritten(key, (temp) => copyFileInto(source, temp, opts.signal), opts);
  }

  /** Writes `key` by `write` (of its temporary file) as put does; `body`, given, is destroyed with a failure. */
  private async putWritten(key: string, write: (temp: string) => Promise<void>, opts: { noClobber?: boolean }, body?: Readable): Promise<void> {
    const target = this.pathOf(key);
    const dir = dirname(target);
    const temp = join(dir, `${TEMP_PREFIX}${randomBytes(4).toString('hex')}-${target.slice(dir.length + 1)}`);
    // Removed below on failure; by the exit hook if the process exits first (a second signal).
    const release = trackTempPath(temp);
    let renamed = false;
    try {
      await this.folderInside(dir, target, true);
      await write(temp);
      // Durable before visible: fsync the file, rename, then fsync the folder so the rename survives a crash.
      const fh = await open(temp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      // Again: the folder may have been swapped for a link while a snapshot of gigabytes was written.
      await this.folderInside(dir, target, false);
      await publish(temp, target, opts.noClobber === true);
      renamed = true;
      release();
      const dh = await open(dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (err) {
      const e = wrap(err, `writing ${target}`);
      // A temporary file that cannot be removed now stays registered: the exit hook tries again.
      await rm(temp, { force: true }).then(release, () => undefined);
      // Renamed but not made durable: not a stored object either.
      if (renamed) await rm(target, { force: true }).catch(() => undefined);
      // With the error, so that whatever feeds the body reports why it stopped rather than a premature close. A body
      // refused before it was read may have been fed whole already (a small snapshot), its feeder's pipeline done and
      // its listeners gone: the error, said by this put, must not crash the process as an unhandled 'error' event.
      if (body !== undefined && !body.destroyed) body.once('error', () => undefined).destroy(e);
      throw e;
    }
  }

  /**
   * Makes `dir` (a folder under the root) when `make`, one level at a time, and refuses it when a level leads outside
   * the root's real path: a cluster's folder that is a symbolic link (`/backups/prod -> /etc`, made by whoever can
   * write the root) would have backups, written as root by the systemd unit, land outside the store. The root itself
   * may be a link (to another disk), and so may a folder that leads to another place inside it.
   */
  private async folderInside(dir: string, target: string, make: boolean): Promise<void> {
    if (make) await makeDirs(this.root, 0o700);
    const realRoot = await this.knownRealRoot(true);
    let d = this.root;
    for (const part of relative(this.root, dir).split(sep).filter((p) => p !== '')) {
      d = join(d, part);
      // An existing name (a link included, even one that leads nowhere) is EEXIST: where it leads is checked below,
      // before anything is made under it.
      if (make) await mkdir(d, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'EEXIST') throw err; });
      const real = await whereItLeads(d);
      if (isInside(real, realRoot)) continue;
      const link = (await lstat(d)).isSymbolicLink() ? 'is a symbolic link to' : 'leads to';
      throw new StoreError(`refusing to write ${target}: ${d} ${link} ${real}, outside the store ${this.shownRoot(realRoot)}; a folder in RS_BACKUP_DIR may lead only to another place inside it`, 'denied');
    }
  }

  private shownRoot(realRoot: string): string {
    return realRoot === this.root ? this.root : `${this.root} (${realRoot})`;
  }

  /**
   * Refuses `path`, whose open file's stat is `opened`, when its real path is outside the root's: a backup's file
   * linked to another (`<id>.snapshot.db -> /etc/shadow`, by whoever can write the store, its manifest's size to
   * match) was served whole by the API's download, read as root, before any sha256 could fail. Checked on the open
   * file, so a link swapped after the check does not count.
   */
  private async refuseOutside(path: string, opened: Stats): Promise<string> {
    const real = await realpath(path);
    const there = await stat(real);
    const same = opened.dev === there.dev && opened.ino === there.ino;
    let realRoot = await this.knownRealRoot(false);
    // The root may have been pointed elsewhere since (a link to another disk, moved): found again before refusing, so
    // that only what today's root does not hold is refused.
    if (same && !isInside(real, realRoot)) realRoot = await this.knownRealRoot(true);
    if (same && isInside(real, realRoot)) return real;
    throw new StoreError(`refusing to read ${path}: it leads to ${real}, outside the store ${this.shownRoot(realRoot)}; a file in RS_BACKUP_DIR may lead only to another place inside it`, 'denied');
  }

  /** The root's real path, as found before unless `again`; a failed look is not kept. */
  private knownRealRoot(again: boolean): Promise<string> {
    if (again || !this.realRoot) {
      const found = realpath(this.root);
      this.realRoot = found;
      found.catch(() => { if (this.realRoot === found) this.realRoot = undefined; });
    }
    return this.realRoot;
  }

  /**
   * Opens the file of `key` for reading, checked to be a regular file inside the store (see refuseOutside); gives its
   * handle, size and real path. Non-blocking, then checked: a FIFO put in the folder under a backup's name (whoever
   * can write it) blocked the open, and the process, for good (SIGTERM could not end it); /dev/zero read on forever.
   */
  private async openFile(key: string): Promise<{ fh: FileHandle; size: number; real: string }> {
    const path = this.pathOf(key);
    const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((err: unknown) => {
      throw wrap(err, `reading ${path}`);
    });
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new StoreError(`reading ${path}: not a regular file (a pipe, device or folder under a backup's name)`, 'other');
      return { fh, size: st.size, real: await this.refuseOutside(path, st) };
    } catch (err) {
      await fh.close();
      throw err instanceof StoreError ? err : wrap(err, `reading ${path}`);
    }
  }

  async get(key: string, opts: GetOptions = {}): Promise<Readable> {
    const { fh, size } = await this.openFile(key);
    // A manifest of a few hundred bytes read with a 1 MiB buffer: `list` of thousands of them spent most of its time
    // collecting those buffers. Stored files never grow once in place.
    return createReadStream(this.pathOf(key), { fd: fh, highWaterMark: Math.max(1, Math.min(WRITE_BUFFER, size)), ...opts.range });
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ObjectInfo[]> {
    const folder = prefix.replace(/\/+$/, '');
    const dir = folder === '' ? this.root : this.pathOf(folder);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw wrap(err, `listing ${dir}`);
    }
    const out: ObjectInfo[] = [];
    for (const name of names) {
      if ((name.startsWith(TEMP_PREFIX) && !opts.pending) || !isListedName(name)) continue;
      const key = folder === '' ? name : `${folder}/${name}`;
      if (opts.startAfter !== undefined && key <= opts.startAfter) continue;
      const st = await stat(join(dir, name)).catch(() => undefined);
      if (!st?.isFile()) continue;
      out.push({ key, size: st.size, lastModified: st.mtime });
    }
    return out;
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const path = this.pathOf(key);
    try {
      const st = await stat(path);
      // A folder is no object, as list() skips it.
      return st.isFile() ? { key, size: st.size, lastModified: st.mtime } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw wrap(err, `reading ${path}`);
    }
  }

  async folders(prefix: string): Promise<string[]> {
    const folder = prefix.replace(/\/+$/, '');
    const dir = folder === '' ? this.root : this.pathOf(folder);
    try {
      const entries = await readdir(dir, { withFileTypes: true });
      return listedFolders(entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name), dir, this.log).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw wrap(err, `listing ${dir}`);
    }
  }

  localPath(key: string): string {
    return this.pathOf(key);
  }

  /**
   * The real path of `key`'s file, checked as get() checks it (a regular file inside the store): a Go Reshifter zip is
   * read in place, with no manifest and no sha256 to check first, so `<id>.zip -> /root/x.zip` (whoever can write
   * RS_BACKUP_DIR) would have had its keys restored into etcd.
   */
  async checkedLocalPath(key: string): Promise<string> {
    const { fh, real } = await this.openFile(key);
    await fh.close();
    return real;
  }

  async delete(key: string): Promise<boolean> {
    const path = this.pathOf(key);
    try {
      // unlink, not rm: of two processes deleting one file only one unlink succeeds, and only that one may say it
      // deleted it (rm checks the file first and then takes an ENOENT of its own unlink as done, force or not).
      await unlink(path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw wrap(err, `deleting ${path}`);
    }
  }

  async close(): Promise<void> {}
}

/** True when the real path `real` is `realRoot` or inside it. */
function isInside(real: string, realRoot: string): boolean {
  return real === realRoot || real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
}

/** The real path of `path`; for a link that leads nowhere, where it points (a missing folder is no refusal). */
async function whereItLeads(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !(await lstat(path)).isSymbolicLink()) throw err;
    return resolve(await realpath(dirname(path)), await readlink(path));
  }
}

function wrap(err: unknown, what: string): Error {
  if (err instanceof ExistsError) return err;
  // Errors of the stream being stored (etcd went away, a failed integrity check) are not the store's.
  if (err instanceof OperationError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (err instanceof Error && err.name === 'AbortError') return new StoreError(`${what}: aborted`, 'other', { cause: err });
  const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? `permission denied${deniedDetail((err as NodeJS.ErrnoException).path)}` : (noRoomReason(err) ?? describeError(err));
  const kind = code === 'ENOENT' ? 'not-found' : code === 'EACCES' || code === 'EPERM' ? 'denied' : 'other';
  return new StoreError(`${what}: ${why}`, kind, { cause: err });
}

