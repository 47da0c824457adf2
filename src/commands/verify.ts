import { IntegrityError } from '../core/errors.js';
import { USES } from '../core/latest.js';
import { openRepository } from '../ops/repository.js';
import { verifyBackup } from '../ops/verify.js';
import type { CommandContext } from './context.js';
import { seriesFlag } from './flags.js';

/** `reshifter verify [<id>|latest] [--strategy S] [--json]`: exit 1 naming the first failed check. `latest` is any kind. */
export async function verifyCommand(ctx: CommandContext): Promise<void> {
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const id = ctx.args.positionals[0] ?? 'latest';
    const m = await repo.get(id, USES.any, seriesFlag(ctx));
    const result = await verifyBackup(ctx, repo, m);
    if (ctx.args.flags.json) ctx.print(JSON.stringify(result));
    else for (const c of result.checks) ctx.print(`${c.ok ? 'ok  ' : 'FAIL'}\t${c.name}\t${c.detail}`);
    const failed = result.checks.find((c) => !c.ok);
    if (failed) throw new IntegrityError(failed.name, `backup ${m.id} failed verification: ${failed.detail}`);
    ctx.log.info({ id: m.id }, 'backup verified');
  } finally {
    await repo.store.close();
  }
}
