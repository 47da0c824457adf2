import { link, lstat, rename, unlink } from 'node:fs/promises';

/**
 * Moves the finished file `temp` to `target`. With `noClobber`, link(2) then unlink: link fails with EEXIST on any
 * entry there (file, folder, symlink) made since the caller looked, where rename would replace it; then this returns
 * false, `temp` left for the caller to remove. True once the file is at `target`.
 */
export async function publishFile(temp: string, target: string, noClobber: boolean): Promise<boolean> {
  if (!noClobber) {
    await rename(temp, target);
    return true;
  }
  try {
    await link(temp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // A file system without hard links (vfat, exFAT on a USB stick): checked, then renamed, as before link was used.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    if (await lstat(target).then(() => true, () => false)) return false;
    await rename(temp, target);
    return true;
  }
  await unlink(temp);
  return true;
}

/** `publishFile` with `noClobber` found an entry at `path`, made after the caller's own check. */
export class FileExistsError extends Error {
  override name = 'FileExistsError';
  constructor(readonly path: string) {
    super(`${path} exists already`);
  }
}
