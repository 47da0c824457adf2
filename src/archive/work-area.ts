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
