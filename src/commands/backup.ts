import { auditRowText, type AuditRow } from '../kube/audit-row.js';
import { backupAndPrune, backupRunContext } from '../ops/backup-run.js';
import { openRepository } from '../ops/repository.js';
import { processMetrics } from '../server/metrics.js';
import { pushMetrics } from '../server/pushgateway.js';
import type { CommandContext } from './context.js';

/**
 * `reshifter backup [--json]`: one backup now, then retention; prints the new id (`--json`: the manifest), and a
 * `render` listing row by row as it is read (JSON lines with --json). Pushes its metrics when RS_PUSHGATEWAY_URL is set.
 */
export async function backupCommand(ctx: CommandContext): Promise<void> {
  const json = ctx.args.flags.json === true;
  const metrics = processMetrics();
  const run = backupRunContext(ctx);
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const manifest = await backupAndPrune(run.ctx, repo, {
      id: run.id,
      observer: metrics.observer,
      onRenderRow: (row: AuditRow) => ctx.print(json ? JSON.stringify(row) : auditRowText(row)),
    });
    ctx.print(json ? JSON.stringify(manifest) : `${manifest.id}\t${manifest.artifact}\t${manifest.sizeBytes} bytes`);
  } finally {
    await repo.store.close();
    const url = ctx.config.pushgatewayUrl;
    if (url !== undefined) await pushMetrics(url, metrics, { cluster: ctx.config.cluster }, run.ctx.log);
  }
}
