import { UsageError } from '../core/errors.js';
import { seriesNamed } from '../core/series.js';
import type { CommandContext } from './context.js';

/**
 * The series `--strategy` narrows `latest` to, for the commands that read backups (`inspect latest --strategy
 * snapshot`, `restore latest --strategy filter:secrets`). Only the flag does: RS_BACKUP_STRATEGY says how backups
 * are taken, and a pod's environment must not change which backup `reshifter inspect latest` reads in it.
 */
export function seriesFlag(ctx: CommandContext): string | undefined {
  const value = ctx.args.flags.strategy;
  if (value === undefined || value === false) return undefined;
  if (value === true) throw new UsageError(['--strategy needs a value']);
  try {
    return seriesNamed(value);
  } catch (err) {
    throw new UsageError([`--strategy was invalid: ${JSON.stringify(value)} ${(err as Error).message}`]);
  }
}

/** A flag that takes a value: its value, undefined when absent; `--name` without one is a usage error. */
export function stringFlag(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.args.flags[name];
  if (v === true) throw new UsageError([`--${name} needs a value`]);
  return v === false ? undefined : v;
}
