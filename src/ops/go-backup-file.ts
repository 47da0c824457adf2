import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { workAreaError } from '../archive/work-area.js';
import { IntegrityError, OperationError } from '../core/errors.js';
import { makeTempDir, trackTempPath } from '../exit-cleanup.js';
import type { openGoReshifterZip } from '../archive/go-reshifter-zip.js';
import type { Logger } from '../log.js';
import { reportProgress } from '../progress.js';
import { limitBytes } from '../store/size-limit.js';
import type { Store } from '../store/types.js';
import type { OpContext } from './context.js';

/** The id of a backup of the Go Reshifter: the Unix seconds it began (`1498050161`), its file `<id>.zip`. */
export const GO_BACKUP_ID = /^\d{10}$/;

/**
 * Backup `id` of the Go Reshifter: `<id>.zip` at the root of the store (RS_S3_BUCKET under RS_S3_PREFIX, or
 * RS_BACKUP_DIR), where its remotes.StoreInS3 uploaded it, given to `use` as a file with the name to print. A local
 * one is read in place; one in S3 is downloaded into the work area first (0600, removed after), as the zip is read
 * more than once. An id the store does not hold is named with where it was looked for; `command` names the file form.
 */
export async function withGoBackupFile<T>(ctx: OpContext, store: Store, id: string, command: string, use: (path: string, where: string) => Promise<T>): Promise<T> {
  const key = `${id}.zip`;
  const where = `${store.location.replace(/\/+$/, '')}/${key}`;
  const found = await store.stat(key, { signal: ctx.signal });
  if (found === undefined) {
    throw new OperationError(
      `${id} is the id of a backup of the Go Reshifter, and ${store.location} holds no ${key} at its root, where the Go Reshifter put them: ` +
        `set RS_S3_BUCKET and RS_S3_PREFIX (or RS_BACKUP_DIR) to where ${key} is, or give the file: "reshifter ${command} /tmp/reshifter/${key}"`,
    );
  }
  const local = await store.checkedLocalPath?.(key);
  if (local !== undefined) return use(local, where);
  const workDir = ctx.config.workDir ?? tmpdir();
  const dir = await makeTempDir(workDir);
  const release = trackTempPath(dir);
  try {
    const copy = join(dir, key);
    let bytes = 0;
    const stop = reportProgress(ctx.log.child({ file: where }), 'download', () => ({ bytes }), found.size);
    try {
      // Cut at the first byte past the size the HeadObject said: an endpoint that sends on (an endless body) would
      // fill the work area before the zip's own checks could fail.
      const tooLong = () => new IntegrityError('size', `${where} holds more than the ${found.size} bytes its HeadObject said: refusing to read a damaged or replaced file on`);
      const body = limitBytes(await store.get(key, { signal: ctx.signal }), found.size, tooLong);
      body.on('data', (c: Buffer) => (bytes += c.length));
      await pipeline(body, createWriteStream(copy, { mode: 0o600, flags: 'wx' }), { signal: ctx.signal });
    } catch (err) {
      throw workAreaError(err, workDir, `cannot download ${where}`);
    } finally {
      stop();
    }
    return await use(copy, where);
  } finally {
    await rm(dir, { recursive: true, force: true }).then(release);
  }
}

/**
 * openGoReshifterZip (see archive/go-reshifter-zip.ts), its check of the whole archive reported as progress while it
 * lasts (`check of the archive`: the keys and bytes of values checked so far), for every command that reads one: on a
 * large archive the check takes a while before anything else is said.
 */
export async function openCheckedGoZip(log: Logger, path: string, name: string, signal: AbortSignal, opts: { command: string; id?: string }): ReturnType<typeof openGoReshifterZip> {
  const { openGoReshifterZip: open } = await import('../archive/go-reshifter-zip.js');
  let checked = { keys: 0, valueBytes: 0 };
  const stop = reportProgress(log.child({ component: opts.command, file: name }), 'check of the archive', () => ({ bytes: checked.valueBytes, keys: checked.keys }));
  try {
    return await open(path, name, signal, { ...opts, onChecked: (s) => (checked = s) });
  } finally {
    stop();
  }
}
