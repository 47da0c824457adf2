import { isDeltaManifest } from '../archive/manifest.js';
import { formatBytes } from '../progress.js';
import { listBackups } from '../ops/list.js';
import { openRepository } from '../ops/repository.js';
import type { CommandContext } from './context.js';
import { seriesFlag } from './flags.js';
import { textTable } from './text-table.js';

/** `reshifter list [--strategy S] [--json]`: the cluster's backups (of series S) and delta segments, newest first. */
export async function listCommand(ctx: CommandContext): Promise<void> {
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const series = seriesFlag(ctx);
    const backups = await listBackups(repo, { log: ctx.log, ...(series !== undefined && { series }) });
    if (ctx.args.flags.json) {
      ctx.print(JSON.stringify(backups, null, 2));
      return;
    }
    if (backups.length === 0) {
      const of = series === undefined ? '' : ` of series "${series}"`;
      ctx.print(`no backups${of} of cluster "${ctx.config.cluster}" in ${repo.store.location}`);
      return;
    }
    const rows = [['ID', 'CREATED', 'STRATEGY', 'SIZE', 'REVISION', 'KEYS', 'ENCRYPTION']];
    for (const m of backups) {
      // A segment of continuous backups: the revisions it covers, its changes and the full backup it continues.
      if (isDeltaManifest(m)) rows.push([m.id, m.createdAt, `delta of ${m.base} (${m.events} changes)`, formatBytes(m.sizeBytes), `${m.fromRevision}..${m.toRevision}`, '-', m.encryption]);
      else rows.push([m.id, m.createdAt, m.strategy, formatBytes(m.sizeBytes), String(m.etcd.revision), m.keys === undefined ? '-' : String(m.keys), m.encryption]);
    }
    for (const line of textTable(rows, rows[0]!.length)) ctx.print(line);
  } finally {
    await repo.store.close();
  }
}
