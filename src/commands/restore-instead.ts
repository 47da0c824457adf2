import { etcdOf, type Manifest } from '../archive/manifest.js';
import { USES } from '../core/latest.js';
import { loadChains } from '../ops/delta-chains.js';
import { IntegrityError } from '../core/errors.js';
import type { BackupUse } from '../core/latest.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { seriesFlag } from './flags.js';
import { shellWord } from './restore-point.js';

/** The checks that find a backup's stored bytes damaged, rather than a setting wrong (a key that is not the backup's). */
const DAMAGE = new Set(['sha256', 'size', 'decompress', 'trailer', 'snapshot', 'content', 'decrypt']);

function isDamage(err: unknown): err is IntegrityError {
  return err instanceof IntegrityError && DAMAGE.has(err.check) && !/none of the configured keys/.test(err.message);
}

/** The command line given, with `id` in place of `latest` (and `extra` after it): what restores that backup the same way. */
function commandFor(ctx: CommandContext, id: string, extra: readonly string[] = []): string {
  const flags = Object.entries(ctx.args.flags).flatMap(([f, v]) => (v === true ? [`--${f}`] : v === false ? [] : [`--${f}`, shellWord(v)]));
  return ['reshifter', 'restore', id, ...extra, ...flags].join(' ');
}

/**
 * `restore latest` found the backup it took damaged once downloaded (its bytes do not hash to its manifest's sha256,
 * do not decrypt or decode, fail etcd's trailer): the refusal names the newest other backup of that kind whose
 * artifact the store holds whole, and the command that restores it as asked, so that the next step in a recovery is
 * not a search through `list`. Any other error is returned as it is.
 */
export async function damagedLatest(ctx: CommandContext, repo: BackupRepository, m: Manifest, use: BackupUse, err: unknown): Promise<unknown> {
  if (ctx.args.positionals[0] !== 'latest' || !isDamage(err)) return err;
  const next = await repo.newestWholeExcept([m.id], use, seriesFlag(ctx)).catch(() => undefined);
  const instead =
    next === undefined
      ? 'the store holds no other backup of that kind whole'
      : `the newest other one is ${next.id} (${next.strategy}, revision ${etcdOf(next).revision}, taken ${next.createdAt}): ` +
        `restore it with "${commandFor(ctx, next.id)}" ("reshifter verify ${next.id}" checks it in full first)`;
  const why = err.message.slice(err.check.length + 2);
  return new IntegrityError(err.check, `${why}; "latest" is backup ${m.id}, which restores nothing, and nothing was written; ${instead}`, { cause: err });
}

/**
 * A snapshot restored as it was taken (`--data-dir` without `--to`) while continuous backups recorded changes after
 * it: those changes are not in the data dir. Said (never silently an older state in a recovery), with the command
 * that replays them; undefined when its chain holds none, or when the store cannot be listed for it.
 */
export async function laterChangesNote(ctx: CommandContext, repo: BackupRepository, m: Manifest): Promise<string | undefined> {
  const chain = await loadChains(repo, { use: USES.restoreSnapshot }).then(
    ({ chains }) => chains.find((c) => c.base.id === m.id),
    () => undefined,
  );
  if (chain === undefined || chain.recordedTo <= chain.base.revision) return undefined;
  const replay = `"${commandFor(ctx, ctx.args.positionals[0]!, ['--to', 'latest'])}" (into a new --data-dir)`;
  if (chain.coveredTo === chain.base.revision) {
    return `continuous backups recorded changes after snapshot ${m.id}, up to revision ${chain.recordedTo}, which this restore does not hold; its chain is broken right after it (${chain.problems[0] ?? '"reshifter verify ' + m.id + ' --chain" names the gap'})`;
  }
  const last = chain.covered.at(-1)?.lastEventAt;
  return (
    `continuous backups recorded changes after snapshot ${m.id}, up to revision ${chain.coveredTo}${last !== undefined ? ` (the last seen at ${last})` : ''}, ` +
    `which this restore does not hold: ${replay} restores them too`
  );
}
