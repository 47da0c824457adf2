import { etcdOf, type Manifest } from '../archive/manifest.js';
import { IntegrityError } from '../core/errors.js';
import { USES, type BackupUse } from '../core/latest.js';
import { loadChains } from '../ops/delta-chains.js';
import { readableBy } from '../ops/encryption-keys.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { seriesFlag } from './flags.js';
import { restoreCommandFor } from './shell-command.js';

/** The checks that find a backup's stored bytes damaged, rather than a setting wrong (a key that is not the backup's). */
const DAMAGE = new Set(['sha256', 'size', 'decompress', 'trailer', 'snapshot', 'content', 'decrypt']);
const NO_KEY = /none of the configured keys/;

/** `<id> (snapshot, revision R, taken T): restore it with "<command>"`. */
function restoreItText(ctx: CommandContext, m: Manifest): string {
  return `${m.id} (${m.strategy}, revision ${etcdOf(m).revision}, taken ${m.createdAt}): restore it with "${restoreCommandFor(ctx.args, m.id)}"`;
}

/** Whether the keys configured for reading can decrypt backup `m`, as its manifest records whom it was encrypted to. */
function readableWith(keys: { recipients: string[]; passphrase: boolean }): (m: Manifest) => boolean {
  return (m) => {
    if (m.encryption === 'none') return true;
    const to = m.encryptedTo;
    if (to === undefined) return false;
    return 'passphrase' in to ? keys.passphrase : to.recipients.some((r) => keys.recipients.includes(r));
  };
}

/**
 * `restore latest` found the backup it took unusable once downloaded: damaged (its bytes do not hash to its
 * manifest's sha256, do not decrypt or decode, fail etcd's trailer), or encrypted to none of the configured keys (an
 * identity file that holds only an older key). The refusal names the newest backup of that kind the store holds whole
 * that it could restore (not damaged; readable with the keys at hand), and the command that restores it as asked, so
 * that the next step in a recovery is not a search through `list`. Any other error is returned as it is.
 */
export async function insteadOfLatest(ctx: CommandContext, repo: BackupRepository, m: Manifest, use: BackupUse, err: unknown): Promise<unknown> {
  if (ctx.args.positionals[0] !== 'latest' || !(err instanceof IntegrityError) || !DAMAGE.has(err.check)) return err;
  const why = err.message.slice(err.check.length + 2);
  if (err.check === 'decrypt' && NO_KEY.test(err.message)) {
    const keys = await readableBy(ctx.config).catch(() => undefined);
    const next = keys && (await repo.newestWholeWhere((b) => b.id !== m.id && readableWith(keys)(b), use, seriesFlag(ctx)).catch(() => undefined));
    if (next === undefined) return err;
    const how = next.encryption === 'none' ? 'unencrypted' : 'encrypted to these keys';
    return new IntegrityError(
      'decrypt',
      `${why}; nothing was written. The newest backup of that kind these keys can read (${how}) is ${restoreItText(ctx, next)}: an older state than "latest" (${m.id})`,
      { cause: err },
    );
  }
  const next = await repo.newestWholeWhere((b) => b.id !== m.id, use, seriesFlag(ctx)).catch(() => undefined);
  const instead =
    next === undefined
      ? 'the store holds no other backup of that kind whole'
      : `the newest other one is ${restoreItText(ctx, next)} ("reshifter verify ${next.id}" checks it in full first)`;
  return new IntegrityError(err.check, `${why}; "latest" is backup ${m.id}, which restores nothing, and nothing was written; ${instead}`, { cause: err });
}

/**
 * A snapshot restored as it was taken (`--data-dir` without `--to`) while continuous backups recorded changes after
 * it: those changes are not in the data dir. Said (never silently an older state in a recovery), with the command
 * that replays them; undefined when its chain holds none, or when the store cannot be listed for it.
 */
export async function laterChangesNote(ctx: CommandContext, repo: BackupRepository, m: Manifest, into: 'data-dir' | 'file' = 'data-dir'): Promise<string | undefined> {
  const chain = await loadChains(repo, { use: USES.restoreSnapshot }).then(
    ({ chains }) => chains.find((c) => c.base.id === m.id),
    () => undefined,
  );
  if (chain === undefined || chain.recordedTo <= chain.base.revision) return undefined;
  const replay =
    into === 'file'
      ? `a snapshot file holds the backup as it was taken (--to does not go with --snapshot-file); "reshifter restore ${ctx.args.positionals[0]!} --to latest --data-dir DIR" restores them into a data directory`
      : `"${restoreCommandFor(ctx.args, ctx.args.positionals[0]!, ['--to', 'latest'])}" (into a new --data-dir) restores them too`;
  const holder = into === 'file' ? 'this file' : 'this restore';
  if (chain.coveredTo === chain.base.revision) {
    return `continuous backups recorded changes after snapshot ${m.id}, up to revision ${chain.recordedTo}, which ${holder} does not hold; its chain is broken right after it (${chain.problems[0] ?? '"reshifter verify ' + m.id + ' --chain" names the gap'})`;
  }
  const last = chain.covered.at(-1)?.lastEventAt;
  return (
    `continuous backups recorded changes after snapshot ${m.id}, up to revision ${chain.coveredTo}${last !== undefined ? ` (the last seen at ${last})` : ''}, ` +
    `which ${holder} does not hold: ${replay}`
  );
}
