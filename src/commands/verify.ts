import { isDeltaManifest, type Manifest } from '../archive/manifest.js';
import type { Check } from '../archive/verify-artifact.js';
import { counted } from '../core/counted.js';
import { IntegrityError, UsageError } from '../core/errors.js';
import { USES } from '../core/latest.js';
import { printable } from '../core/printable.js';
import { openRepository } from '../ops/repository.js';
import { recordedChainNote, verifyChain } from '../ops/verify-chain.js';
import { verifyBackup, verifyGoZipFile, verifySnapshotFile } from '../ops/verify.js';
import { isGoReshifterZip } from '../archive/go-reshifter-zip.js';
import { GO_BACKUP_ID, withGoBackupFile } from '../ops/go-backup-file.js';
import type { CommandContext } from './context.js';
import { seriesFlag } from './flags.js';
import { isFile } from '../ops/open-snapshot.js';

/**
 * `reshifter verify [<id>|latest] [--strategy S] [--json]`: exit 1 naming the first failed check. `latest` is any kind.
 * With `--chain`, the whole chain of continuous backups the backup belongs to: its full backup, every segment, and
 * that the segments follow each other without gap.
 */
export async function verifyCommand(ctx: CommandContext): Promise<void> {
  const target = ctx.args.positionals[0];
  if (target !== undefined && (await isFile(target))) return fileCommand(ctx, target);
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const id = ctx.args.positionals[0] ?? 'latest';
    // A backup of the Go Reshifter, by its id: its <id>.zip at the root of the store.
    if (GO_BACKUP_ID.test(id)) return await withGoBackupFile(ctx, repo.store, id, 'verify', async (path, where) => printGoZip(ctx, await verifyGoZipFile(ctx, path, where, id)));
    const m = await repo.get(id, ctx.args.flags.chain ? USES.verifyChain : USES.any, seriesFlag(ctx));
    if (ctx.args.flags.chain) return await chainCommand(ctx, m, id === 'latest' && seriesFlag(ctx) === undefined ? await recordedChainNote(repo, m) : undefined);
    const result = await verifyBackup(ctx, repo, m);
    printChecks(ctx, result, backupLine(m), `backup ${m.id}`);
    // With `run` recording, `latest` is nearly always a segment of a few changes: the full backup a recovery would
    // restore was not checked, and is named.
    if (id === 'latest' && isDeltaManifest(m) && !ctx.args.flags.json) {
      ctx.print(`note: "latest" is a delta segment of the chain of ${m.base}; that full backup was not checked: "reshifter verify ${m.base} --chain" checks it and every segment`);
    }
    ctx.log.info({ id: m.id }, 'backup verified');
  } finally {
    await repo.store.close();
  }

  async function chainCommand(c: CommandContext, m: Awaited<ReturnType<typeof repo.get>>, note: string | undefined): Promise<void> {
    if (note !== undefined) c.log.warn({ id: m.id, note }, 'latest is not the chain being recorded');
    const result = await verifyChain(c, repo, m);
    if (c.args.flags.json) c.print(JSON.stringify({ ...result, ...(note !== undefined && { note }) }));
    else {
      for (const b of result.backups) {
        const failed = b.checks.find((k) => !k.ok);
        const what = b.fromRevision === undefined ? 'full backup' : `revisions ${b.fromRevision}..${b.toRevision}`;
        c.print(`${b.ok ? 'ok  ' : 'FAIL'}\t${b.id}\t${what}${failed ? `\t${failed.name}: ${failed.detail}` : ''}`);
      }
      for (const p of result.problems) c.print(`FAIL\tchain\t${p}`);
      for (const n of result.notes) c.print(`note\tchain\t${n}`);
      c.print(`${result.ok ? 'ok  ' : 'FAIL'}\tchain\t${counted(result.segments, 'segment')}, ${counted(result.events, 'change')}, revisions up to ${result.coveredTo} restorable`);
      if (note !== undefined) c.print(`note: ${note}`);
    }
    const bad = result.backups.find((b) => !b.ok);
    if (bad) throw new IntegrityError('chain', `the chain of ${result.base} failed verification: backup ${bad.id}: ${bad.checks.find((k) => !k.ok)!.detail}`);
    if (result.problems.length > 0) throw new IntegrityError('chain', `the chain of ${result.base} is broken: ${result.problems[0]!}`);
    c.log.info({ base: result.base, segments: result.segments, coveredTo: result.coveredTo }, 'chain verified');
  }
}

/** `verify FILE`: a snapshot file on this machine, checked as a snapshot backup's file is; exit 1 naming a failed check. */
async function fileCommand(ctx: CommandContext, path: string): Promise<void> {
  // Named as keys are printed: a path may hold a newline or ESC.
  const name = printable(path);
  if (ctx.args.flags.chain) throw new UsageError([`--chain verifies a chain of backups in the store; ${name} is a file`]);
  if (await isGoReshifterZip(path)) return printGoZip(ctx, await verifyGoZipFile(ctx, path));
  const result = await verifySnapshotFile(ctx, path);
  printChecks(ctx, result, `snapshot file ${name}`, name);
  ctx.log.info({ file: path }, 'snapshot file verified');
}

/** A Go Reshifter zip's check, printed as a file's; exit 1 naming it when it failed. */
function printGoZip(ctx: CommandContext, result: Awaited<ReturnType<typeof verifyGoZipFile>>): void {
  const name = printable(result.file);
  printChecks(ctx, result, result.id === undefined ? `backup of the Go Reshifter ${name}` : `backup ${result.id} of the Go Reshifter (${name})`, name);
  ctx.log.info({ file: result.file }, 'backup of the Go Reshifter verified');
}

/**
 * The checks as JSON, or as text after a line naming what was checked; throws naming `what` and the first failed one.
 */
function printChecks(ctx: CommandContext, result: { checks: Check[] }, head: string, what: string): void {
  if (ctx.args.flags.json) ctx.print(JSON.stringify(result));
  else {
    ctx.print(head);
    for (const c of result.checks) ctx.print(`${c.skipped ? 'skip' : c.ok ? 'ok  ' : 'FAIL'}\t${c.name}\t${c.detail}`);
  }
  const failed = result.checks.find((c) => !c.ok);
  if (failed) throw new IntegrityError(failed.name, `${what} failed verification: ${failed.detail}`);
}

/**
 * Which backup the checks are of, first: `latest` is the newest of any kind, so in a store that several jobs write
 * (`backup && verify` beside an hourly listing) it may be another job's backup than the one just taken.
 */
function backupLine(m: Manifest): string {
  const revision = m.etcd !== undefined ? `, revision ${m.etcd.revision}` : '';
  return `backup ${m.id} (${m.strategy}${revision}, taken ${m.createdAt})`;
}
