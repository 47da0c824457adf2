import { DUMP_FORMAT, DUMP_VERSION, type DumpHeader } from '../archive/key-dump-format.js';
import type { DumpItem } from '../archive/key-dump-reader.js';
import type { Manifest } from '../archive/manifest.js';
import type { KeyRecord } from '../core/key-record.js';
import { prefixRanges } from '../etcd/key-ranges.js';
import { DEFAULT_PREFIXES } from '../kube/index.js';
import type { LiveKey } from '../snapshot/index.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { restoreKeyPasses, type KeyRestoreOptions, type KeyRestoreReport } from './restore-keys.js';
import { openSnapshotBackup } from './snapshot-backup.js';
import { liveKeysIn } from './snapshot-input.js';
import { snapshotError } from '../archive/snapshot-error.js';

/**
 * A snapshot key as the restore writer takes it. A key with a lease gets the lease's granted TTL: how much of it
 * was left when the snapshot was taken cannot be known offline, so the fresh lease runs the full TTL. A key whose
 * lease is not in the snapshot's lease bucket had as good as expired: ttl 0, which the planner skips as expired.
 * Never a permanent key.
 */
export function snapshotKeyRecord(kv: LiveKey, leaseTtls: ReadonlyMap<bigint, number>): KeyRecord {
  const record: KeyRecord = { key: kv.key, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version };
  if (kv.lease === 0n) return record;
  return { ...record, lease: kv.lease.toString(), ttl: leaseTtls.get(kv.lease) ?? 0 };
}

/**
 * `restore <snapshot-id> --keys`: replays the live keys of a snapshot backup (read offline, no etcd needed to read
 * it) under RS_KUBE_PREFIXES (default the Kubernetes prefixes) into the running etcd at RS_ETCD_ENDPOINTS, with the
 * filters, `--dry-run`, `--skip-existing` and lease handling of key-dump restores.
 */
export async function restoreSnapshotKeys(ctx: CommandContext, repo: BackupRepository, m: Manifest, opts: KeyRestoreOptions): Promise<KeyRestoreReport> {
  const input = await openSnapshotBackup(ctx, repo, m);
  ctx.log.child({ component: 'restore', backupId: m.id }).info({ id: m.id, sizeBytes: m.sizeBytes, sha256: m.sha256 }, 'snapshot downloaded and verified');
  try {
    const { reader } = input;
    const leaseTtls = new Map((await reader.leases()).map((l) => [l.id, l.ttl] as const));
    const prefixes = ctx.config.selection.prefixes.length > 0 ? ctx.config.selection.prefixes : [...DEFAULT_PREFIXES];
    const header: DumpHeader = {
      format: DUMP_FORMAT,
      version: DUMP_VERSION,
      apiVersion: 'v3',
      etcdVersion: m.etcd.version,
      revision: m.etcd.revision,
      prefixes,
      createdAt: m.createdAt,
    };
    async function* pass(): AsyncGenerator<DumpItem> {
      yield { type: 'header', header };
      for await (const kv of liveKeysIn(reader, prefixRanges(prefixes))) yield { type: 'key', record: snapshotKeyRecord(kv, leaseTtls) };
    }
    return await restoreKeyPasses(ctx, m.id, pass, opts);
  } catch (err) {
    throw snapshotError(err, `backup ${m.id}`);
  } finally {
    await input.close();
  }
}
