import { USES } from '../core/latest.js';
import { keysOutsideText, type KeysOutside } from '../etcd/kube-prefixes.js';
import { AUDIT_COLUMNS, auditRowText, type AuditRow } from '../kube/audit-row.js';
import type { StatsReport, Tally } from '../kube/key-stats.js';
import { printable } from '../core/printable.js';
import { formatBytes } from '../progress.js';
import { openRepository } from '../ops/repository.js';
import { GO_BACKUP_ID, withGoBackupFile } from '../ops/go-backup-file.js';
import { GO_RESHIFTER, backupStats, fileStats, liveStats, type StatsOptions, type StatsResult, type StatsSource } from '../ops/stats.js';
import type { CommandContext } from './context.js';
import { seriesFlag } from './flags.js';
import { isFile } from '../ops/open-snapshot.js';
import { textTable } from './text-table.js';

/**
 * `reshifter stats [<id>|latest|<file>] [--strategy S] [--keys] [--json]`: keys and bytes per prefix, resource,
 * namespace and value encoding, from the live etcd, a snapshot file on this machine, or a stored backup (checked
 * against its manifest first; `latest` is the newest snapshot, key dump or render listing, of series S). `--keys`
 * also lists every key (the render listing). RS_INCLUDE_/EXCLUDE_* filters apply.
 */
export async function statsCommand(ctx: CommandContext): Promise<void> {
  const id = ctx.args.positionals[0];
  const json = ctx.args.flags.json === true;
  const listKeys = ctx.args.flags.keys === true;
  // Keys stream out as they are counted, before the tables (as text) or the report (--json: the document's keyList
  // comes first), so memory does not grow with the keys and a reader (`| jq`, `| less`) sees them at once.
  const keyList = listKeys && json ? jsonKeyList(ctx) : undefined;
  const onRow = keyList?.row ?? ((row: AuditRow) => ctx.print(auditRowText(row)));
  const opts: StatsOptions = listKeys ? { onRow, ...(ctx.backlog && { backlog: ctx.backlog }) } : {};
  if (listKeys && !json) ctx.print(AUDIT_COLUMNS.join('\t'));
  const { source, report } = id === undefined ? await liveStats(ctx, opts) : (await isFile(id)) ? await fileStats(ctx, id, opts) : await storedStats(ctx, id, opts);
  if (keyList) {
    keyList.end();
    // The rest of the document after the keyList: the report's members, indented as JSON.stringify's.
    ctx.print(JSON.stringify({ source, ...report }, null, 2).slice(2));
  } else if (json) ctx.print(JSON.stringify({ source, ...report }, null, 2));
  else for (const line of formatStats(source, report)) ctx.print(line);
}

/**
 * `stats --keys --json`: the document's opening and its `keyList` array, a row per line as it is counted (opened with
 * the first row, so an error before any leaves no half document); `end` closes the array, the report follows.
 */
function jsonKeyList(ctx: CommandContext): { row: (row: AuditRow) => void; end: () => void } {
  const head = '{\n  "keyList": [';
  let opened = false;
  let pending: string | undefined;
  return {
    row(row) {
      if (!opened) ctx.print(head);
      opened = true;
      if (pending !== undefined) ctx.print(`${pending},`);
      pending = `    ${JSON.stringify(row)}`;
    },
    end() {
      if (!opened) ctx.print(head);
      if (pending !== undefined) ctx.print(pending);
      ctx.print('  ],');
    },
  };
}

async function storedStats(ctx: CommandContext, id: string, opts: StatsOptions): Promise<StatsResult> {
  const repo = openRepository(ctx.config, ctx.log);
  try {
    // A backup of the Go Reshifter, by its id: its <id>.zip at the root of the store.
    if (GO_BACKUP_ID.test(id)) {
      return await withGoBackupFile(ctx, repo.store, id, 'stats', async (path, where) => {
        const r = await fileStats(ctx, path, opts, { name: where, id });
        return { ...r, source: { ...r.source, path: where } };
      });
    }
    return await backupStats(ctx, repo, await repo.getWhole(id, USES.stats, seriesFlag(ctx)), opts);
  } finally {
    await repo.store.close();
  }
}

/** Keys beyond the prefixes: not counted here, and not in a key dump either (nor, on v2, in a snapshot). */
function outsideLine(outside: KeysOutside, apiVersion: 'v2' | 'v3'): string {
  const snapshot = apiVersion === 'v3' ? 'a snapshot holds them' : 'nor in a snapshot, which holds only the v3 keyspace';
  return `outside:  ${keysOutsideText(outside)} under ${outside.under.join(', ')}, beyond the Kubernetes prefixes: not counted above, and not in a raw dump (${snapshot}; RS_KUBE_PREFIXES=/ reads every key)`;
}

function table(title: string, groups: Record<string, Tally>): string[] {
  const rows = [[title, 'KEYS', 'BYTES']];
  // Names come from keys: printed as keys are, so a namespace holding a newline cannot fake a row.
  for (const [name, t] of Object.entries(groups)) rows.push([printable(name), String(t.keys), formatBytes(t.bytes)]);
  return ['', ...textTable(rows)];
}

/** The report as text: where from, totals, then one table per grouping. */
export function formatStats(source: StatsSource, r: StatsReport): string[] {
  const from = source.kind === 'live' ? `etcd ${source.endpoints!.join(',')}` : source.kind === 'file' ? `file ${printable(source.path!)}` : `backup ${source.id} (${source.strategy})`;
  const go = source.strategy === GO_RESHIFTER;
  return [
    go ? `source:   ${from}, backup ${source.id} of the Go Reshifter (it records no etcd API or revision)` : `source:   ${from}, API ${source.apiVersion}, revision ${source.revision}`,
    `prefixes: ${source.prefixes.join(', ') || '-'}`,
    `keys:     ${r.keys} (${formatBytes(r.keyBytes + r.valueBytes)}: keys ${formatBytes(r.keyBytes)}, values ${formatBytes(r.valueBytes)})`,
    ...(source.outside ? [outsideLine(source.outside, source.apiVersion)] : []),
    ...(source.degraded ?? []).map((d) => `member:   ${d.endpoint} ${d.problem}: counted from the other endpoints ("reshifter explore" shows each member)`),
    ...table('PREFIX', r.byPrefix),
    ...table('RESOURCE', r.byResource),
    ...table('NAMESPACE', r.byNamespace),
    ...table('ENCODING', r.byEncoding),
  ];
}
