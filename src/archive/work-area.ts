import { OperationError } from '../core/errors.js';

/** What a write that found no room says of the work area, by fs code: a full disk, a quota, a file size limit. */
const NO_ROOM: Readonly<Record<string, string>> = {
  ENOSPC: 'is full: no space left on the device',
  EDQUOT: 'is full: disk quota exceeded',
  EFBIG: 'cannot take a file this large: file too large',
};

/** True when `err` is a write that found no room (ENOSPC, EDQUOT, EFBIG); reads never fail so. */
export function isNoRoom(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code in NO_ROOM;
}

/**
 * `err` said of the work area (`workDir`, RS_TMP_DIR) when it is a write that found no room there, with its sizing
 * rule: the bare 'ENOSPC: no space left on device, write' read as the store's or the backup's fault. Any other error
 * is returned as it is. Only for streams whose one writer is a file in the work area.
 */
export function workAreaError(err: unknown, workDir: string, what: string): unknown {
  if (!isNoRoom(err)) return err;
  const why = NO_ROOM[(err as NodeJS.ErrnoException).code!]!;
  return new OperationError(`${what}: the work area ${workDir} (RS_TMP_DIR) ${why}; it needs up to 2× the etcd database size free (README: Work area)`, { cause: err });
}
