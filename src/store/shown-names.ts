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
