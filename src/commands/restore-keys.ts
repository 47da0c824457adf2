import { readKeyDump, type DumpItem } from '../archive/key-dump-reader.js';
import type { DumpHeader } from '../archive/key-dump-format.js';
import { assertDecodable, copyVerified } from '../archive/local-copy.js';
import type { Manifest } from '../archive/manifest.js';
import { AbortedError, IntegrityError, OperationError, describeError } from '../core/errors.js';
import type { KeyRecord } from '../core/key-record.js';
import { buildSelection, selectKey } from '../core/key-selection.js';
import { RESTORE_PHASES, restorePhase, type PlanRow, type PlanTotals } from '../core/restore-plan.js';
import { KeyRestorer } from '../etcd/key-restorer.js';
import { DEFAULT_PREFIXES, parseKey, type ParsedKey } from '../kube/index.js';
import { layoutPrefixes, resourceLabel } from '../kube/resource-label.js';
import { reportProgress } from '../progress.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { codecKeys } from './keys.js';
import { openRestoreTarget } from './restore-target.js';
import { withEtcd } from './shared.js';

export interface KeyRestoreReport {
  id: string;
  dryRun: boolean;
  target: { endpoints: string[]; apiVersion: 'v2' | 'v3' };
  written: number;
  durationMs: number;
  keysPerSecond: number;
  totals: PlanTotals;
  resources: PlanRow[];
}

/**
 * Restores a key dump into the etcd at RS_ETCD_ENDPOINTS. The stored bytes are downloaded and checked against the
 * manifest (size, sha256) before anything is written. Then one pass over the dump per phase (namespaces, CRDs, the
 * rest), so order holds without keeping keys in memory. Filters and `--skip-existing` apply; `--dry-run` reads the
 * target and writes nothing. A failure half-way says how many keys were written; running it again completes it.
 */
export async function restoreKeyDump(
  ctx: CommandContext,
  repo: BackupRepository,
  m: Manifest,
  opts: KeyRestoreOptions,
): Promise<KeyRestoreReport> {
  const keys = await codecKeys(ctx.config, { forReading: true });
  assertDecodable(m, keys);
  const copy = await copyVerified(await repo.openArtifact(m, ctx.signal), m, ctx.signal);
  ctx.log.child({ component: 'restore', backupId: m.id }).info({ id: m.id, sizeBytes: m.sizeBytes, sha256: m.sha256 }, 'backup downloaded and verified');
  try {
    return await restoreKeyPasses(ctx, m.id, () => readKeyDump(copy.open(keys)), opts);
  } finally {
    await copy.remove();
  }
}

/** One pass over a backup's keys in the shape of a key dump: the header, then every key. */
export type KeyPass = () => AsyncIterable<DumpItem>;

/** Options of a key restore; onProgress: keys handled so far and bytes written, for API jobs. */
export interface KeyRestoreOptions {
  dryRun: boolean;
  skipExisting: boolean;
  onProgress?: (p: { keys: number; bytes: number }) => void;
  /** Bytes of CRDs held through the first pass (see CRD_HOLD_BYTES); tests set it low. */
  crdHoldBytes?: number;
}

/**
 * CustomResourceDefinitions seen in the first pass (namespaces) are held until it ends and written then,
 * which saves a whole pass over the backup (gunzip, parse) for a cluster that has any. Their keys sort before the
 * namespaces', so they cannot be written as they come. Real clusters hold a few MB of them; beyond this they get a
 * pass of their own, as before.
 */
const CRD_HOLD_BYTES = 16 * 1024 * 1024;

/**
 * Writes the keys of backup `id` into the etcd at RS_ETCD_ENDPOINTS: one `pass()` per restore phase that has keys
 * (the first one counts them, and holds the CRDs when they are few), through the restore planner and writer. Key
 * dumps and snapshots (read offline) both come through here.
 */
export async function restoreKeyPasses(ctx: CommandContext, id: string, pass: KeyPass, opts: KeyRestoreOptions): Promise<KeyRestoreReport> {
  const { config, signal } = ctx;
  const log = ctx.log.child({ component: 'restore', backupId: id });
  const strategy = config.strategy;
  const selection = buildSelection(config.selection, strategy?.kind === 'filter' ? strategy.resources : undefined);
  const started = Date.now();
  let handled = 0;
  return withEtcd(config, async (etcd) => {
    let header: DumpHeader | undefined;
    // The first pass also learns which later phases have keys at all.
    const perPhase = [0, 0, 0];
    let layout: readonly string[] = DEFAULT_PREFIXES;
    let restorer: KeyRestorer | undefined;
    let target: Awaited<ReturnType<typeof openRestoreTarget>> | undefined;
    const stopProgress = reportProgress(log, 'restore', () => ({ bytes: restorer?.bytesWritten ?? 0, keys: restorer?.written ?? 0 }));
    // CRDs held through the first pass; undefined once they outgrow the limit (then they get their own pass).
    let heldCrds: Array<{ record: KeyRecord; parsed: ParsedKey }> | undefined = [];
    let heldBytes = 0;
    const holdLimit = opts.crdHoldBytes ?? CRD_HOLD_BYTES;
    const handle = async (record: KeyRecord, parsed: ParsedKey) => {
      const resource = resourceLabel(parsed);
      if (selectKey(parsed, selection)) await restorer!.add(record, resource);
      else restorer!.skipFiltered(resource);
      opts.onProgress?.({ keys: ++handled, bytes: restorer!.bytesWritten });
    };
    try {
      for (let phase = 0; phase < RESTORE_PHASES.length; phase++) {
        if (phase > 0 && perPhase[phase] === 0) continue;
        if (phase === 1 && heldCrds !== undefined) continue; // written at the end of the first pass
        log.debug({ phase: RESTORE_PHASES[phase] }, 'restore phase');
        for await (const item of pass()) {
          if (signal.aborted) throw new AbortedError('restore interrupted (SIGTERM/SIGINT)');
          if (item.type === 'header') {
            if (!header) {
              header = item.header;
              layout = layoutPrefixes(header.prefixes, DEFAULT_PREFIXES);
              target = await openRestoreTarget(config, etcd, header.apiVersion);
              restorer = new KeyRestorer(target, opts);
              log.info({ target: config.etcd.endpoints, apiVersion: target.apiVersion, dryRun: opts.dryRun, dumpRevision: header.revision }, 'restore started');
            }
            continue;
          }
          const parsed = parseKey(item.record.key, layout);
          const ph = restorePhase(parsed);
          if (phase === 0) {
            perPhase[ph]!++;
            if (ph === 1 && heldCrds !== undefined) {
              heldBytes += item.record.key.length + item.record.value.length;
              // Records are the reader's to give away (key dumps and snapshots alike hand out buffers of their own).
              if (heldBytes > holdLimit) heldCrds = undefined;
              else heldCrds.push({ record: item.record, parsed });
            }
          }
          if (ph !== phase) continue;
          await handle(item.record, parsed);
        }
        await restorer?.drain();
        if (phase === 0 && heldCrds !== undefined && heldCrds.length > 0) {
          log.debug({ phase: RESTORE_PHASES[1], keys: heldCrds.length, bytes: heldBytes }, 'restore phase (held in the first pass)');
          for (const { record, parsed } of heldCrds) await handle(record, parsed);
          heldCrds = [];
          await restorer?.drain();
        }
      }
    } catch (err) {
      // Let batches in flight finish, so the count of keys written is exact.
      await restorer?.drain().catch(() => undefined);
      const written = restorer?.written ?? 0;
      const inDoubt = restorer?.inDoubt ?? 0;
      if (err instanceof IntegrityError) throw err;
      const why = err instanceof AbortedError ? 'was interrupted' : `failed (${describeError(err)})`;
      // Keys sent in a transaction that etcd never answered may be there or not: say so, rather than count them either way.
      const doubt = inDoubt > 0 ? ` (and sent ${inDoubt} more that etcd did not confirm: they may have been written too)` : '';
      throw new (err instanceof AbortedError ? AbortedError : OperationError)(
        `restore of backup ${id} ${why} after writing ${written} keys${doubt}; run it again to complete it (keys already written are left unchanged)`,
        { cause: err },
      );
    } finally {
      stopProgress();
      target?.close();
    }
    const durationMs = Date.now() - started;
    const written = restorer!.written;
    const report: KeyRestoreReport = {
      id,
      dryRun: opts.dryRun,
      target: { endpoints: config.etcd.endpoints, apiVersion: target!.apiVersion },
      written,
      durationMs,
      keysPerSecond: durationMs > 0 ? Math.round((written * 1000) / durationMs) : written,
      totals: restorer!.plan.totals(),
      resources: restorer!.plan.rows(),
    };
    log.info({ written, bytes: restorer!.bytesWritten, durationMs, keysPerSecond: report.keysPerSecond, dryRun: opts.dryRun }, opts.dryRun ? 'restore planned' : 'restore completed');
    return report;
  });
}

/** The report as text: the plan table, then a summary line. */
export function formatKeyRestore(r: KeyRestoreReport): string[] {
  const rows = [['RESOURCE', 'CREATE', 'UPDATE', 'UNCHANGED', 'SKIPPED']];
  for (const p of r.resources) rows.push([p.resource, String(p.create), String(p.update), String(p.unchanged), String(p.skipped)]);
  const t = r.totals;
  rows.push(['TOTAL', String(t.create), String(t.update), String(t.unchanged), String(t.skipped)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  const skipped = Object.entries(t.skippedBy).filter(([, n]) => n > 0).map(([why, n]) => `${n} ${why}`).join(', ');
  if (skipped) lines.push(`skipped: ${skipped}`);
  const where = `${r.target.endpoints.join(',')} (${r.target.apiVersion})`;
  lines.push(
    r.dryRun
      ? `dry run: would write ${t.create + t.update} of ${t.keys} keys into ${where}; nothing was written`
      : `restored ${r.written} keys into ${where} in ${(r.durationMs / 1000).toFixed(1)} s (${r.keysPerSecond} keys/s)`,
  );
  return lines;
}
