import { printable } from '../core/printable.js';
import type { Logger } from '../log.js';

// C0 and C1 controls, DEL, format characters (bidi overrides), line and paragraph separators, as core/printable.ts.
const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * Whether a file or folder name found in the store is one reshifter lists. Names are printed (`list --all-clusters`,
 * the clusters and snapshot files a failed look-up names, the move that makes a copied folder readable): one with a
 * control character (ESC, a newline), which anyone who can write to the bucket or folder can make, could drive the
 * reader's terminal. No backup, cluster or prefix of reshifter's has one, so such names are passed over as the
 * files of no backup are.
 */
export function isListedName(name: string): boolean {
  return !CONTROL.test(name);
}

/** Names already warned of in this process (store location and name), so a run says each once. */
const warned = new Set<string>();

/**
 * `names` (folders found in the store at `where`) without those reshifter does not list (isListedName), each passed
 * over warned of once per process, its name escaped (`\x1b`) as keys are printed: skipped without a word, a cluster
 * folder made with such a name (whoever can write the store) was missing from `list --all-clusters` with no reason.
 */
export function listedFolders(names: readonly string[], where: string, log: Logger | undefined): string[] {
  return names.filter((name) => {
    if (isListedName(name)) return true;
    const seen = `${where}\0${name}`;
    if (!warned.has(seen)) {
      warned.add(seen);
      log?.warn({ folder: printable(name), in: where }, 'store folder skipped: its name holds a control character, which reshifter does not print');
    }
    return false;
  });
}
