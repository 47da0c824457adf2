import { statfs } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { OperationError } from '../core/errors.js';

/** Why a write found no room, by fs code: a full disk, a quota, a file size limit. */
const NO_ROOM: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: "file too large (over the file system's largest file, or the process's file size limit: ulimit -f)",
};

/** Why `err`, a write, found no room (ENOSPC, EDQUOT, EFBIG), in words; undefined for any other error. */
export function noRoomReason(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && Object.hasOwn(NO_ROOM, code) ? NO_ROOM[code] : undefined;
}

/** True when `err` is a write that found no room (ENOSPC, EDQUOT, EFBIG); reads never fail so. */
export function isNoRoom(err: unknown): boolean {
  return noRoomReason(err) !== undefined;
}

/**
 * `err` said of the work area (`workDir`, RS_TMP_DIR) when it is a write that found no room there, with its sizing
 * rule: the bare 'ENOSPC: no space left on device, write' read as the store's or the backup's fault. Any other error
 * is returned as it is. Only for streams whose one writer is a file in the work area.
 */
export function workAreaError(err: unknown, workDir: string, what: string): unknown {
  const why = noRoomReason(err);
  if (why === undefined) return err;
  const full = (err as NodeJS.ErrnoException).code === 'EFBIG' ? 'cannot take a file this large' : 'is full';
  return new OperationError(`${what}: the work area ${workDir} (RS_TMP_DIR) ${full}: ${why}; it needs up to 2× the etcd database size free (README: Work area)`, { cause: err });
}

/** What a decode into the work area leaves free on its file system: a tenth of it, at most 1 GiB. */
const RESERVE_SHARE = 0.1;
const RESERVE_MAX = 1024 ** 3;

/** A decode into the work area stopped before it filled the work area's file system. */
export class DecodeRoomError extends OperationError {
  override name = 'DecodeRoomError';
}

/**
 * A cap for a file with no manifest (`verify FILE.gz`, a k3s `.zip`) decoded into the work area `workDir`: nothing
 * says what it decodes to, so a few KB of gzip that inflate without end (a gzip bomb) filled the disk, and whatever
 * else used it (etcd's data dir beside /tmp), before the write failed. Stopped instead once the decoded bytes would
 * leave less than a tenth of the file system (at most 1 GiB) free; no real snapshot is refused that the work area
 * could have held. `bytes` is what is known up front (a zip entry's declared size): refused at once when over. A pipe
 * copied in (`verify /dev/stdin`, `opts.copy`) has no size either, and is capped alike.
 */
export async function decodeCap(workDir: string, name: string, opts: { bytes?: number; copy?: boolean } = {}): Promise<Transform> {
  const fs = await statfs(workDir);
  const reserve = Math.min(RESERVE_MAX, Math.floor(fs.blocks * fs.bsize * RESERVE_SHARE));
  const limit = Math.max(0, fs.bavail * fs.bsize - reserve);
  const [verb, holds, why] = opts.copy ? ['copy', 'it holds', 'A snapshot'] : ['decode', 'it decodes to', 'A compression bomb, or a snapshot'];
  const tooLarge = (seen: string, stopped: string) =>
    new DecodeRoomError(
      `cannot ${verb} ${name}: ${holds} more than ${mib(limit)} (${seen}), which is all the work area ${workDir} (RS_TMP_DIR) has free ` +
        `but the ${mib(reserve)} kept free on its disk: ${stopped}. ${why} ` +
        'larger than the work area can hold: give RS_TMP_DIR a folder with more room (README: Work area)',
    );
  if (opts.bytes !== undefined && opts.bytes > limit) throw tooLarge(`its archive says ${opts.bytes} bytes`, `nothing ${verb === 'copy' ? 'copied' : 'decoded'}`);
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      seen += chunk.length;
      if (seen <= limit) return cb(null, chunk);
      cb(tooLarge(`${seen} bytes ${verb === 'copy' ? 'copied' : 'decoded'} so far`, 'stopped there, the partial file removed'));
    },
  });
}

function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
