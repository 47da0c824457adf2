import { verifyArtifact, type Check } from '../archive/verify-artifact.js';
import { verifySnapshotArtifact } from '../archive/verify-snapshot.js';
import type { Manifest } from '../archive/manifest.js';
import { IntegrityError } from '../core/errors.js';
import { USES } from '../core/latest.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { codecKeys } from './keys.js';
import { seriesFlag } from './series-flag.js';
import { openRepository } from './shared.js';

/** Verifies one backup; resolves with the checks, whatever they found. A snapshot's file is walked as a whole too. */
export async function verifyBackup(ctx: CommandContext, repo: BackupRepository, m: Manifest): Promise<Check[]> {
  const keys = await codecKeys(ctx.config, { forReading: true });
  const stored = await repo.openArtifact(m, ctx.signal);
  if (m.contentType === 'etcd-snapshot') return verifySnapshotArtifact(stored, m, keys, ctx.signal);
  return verifyArtifact(stored, m, keys, ctx.signal);
}

/** `reshifter verify [<id>|latest] [--strategy S] [--json]`: exit 1 naming the first failed check. `latest` is any kind. */
export async function verifyCommand(ctx: CommandContext): Promise<void> {
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const id = ctx.args.positionals[0] ?? 'latest';
    const m = await repo.get(id, USES.any, seriesFlag(ctx));
    const checks = await verifyBackup(ctx, repo, m);
    if (ctx.args.flags.json) ctx.print(JSON.stringify({ id: m.id, ok: checks.every((c) => c.ok), checks }));
    else for (const c of checks) ctx.print(`${c.ok ? 'ok  ' : 'FAIL'}\t${c.name}\t${c.detail}`);
    const failed = checks.find((c) => !c.ok);
    if (failed) throw new IntegrityError(failed.name, `backup ${m.id} failed verification: ${failed.detail}`);
    ctx.log.info({ id: m.id }, 'backup verified');
  } finally {
    await repo.store.close();
  }
}
