import type { Args } from './context.js';

/** A word of a shell command: as it is when it needs no quoting, else in single quotes. */
export const shellWord = (w: string) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);

/**
 * `reshifter restore <id> [extra...] --flag value ...`: the command line given, for another backup (`latest` replaced
 * by the id to take instead), its flags as given but those of `drop`, quoted for a shell.
 */
export function restoreCommandFor(args: Args, id: string, extra: readonly string[] = [], drop: readonly string[] = []): string {
  const flags = Object.entries(args.flags).flatMap(([f, v]) => (drop.includes(f) || v === false ? [] : v === true ? [`--${f}`] : [`--${f}`, shellWord(v)]));
  return ['reshifter', 'restore', id, ...extra, ...flags].join(' ');
}
