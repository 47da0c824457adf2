import { loadConfig } from '../config/load-config.js';
import { createEtcdClient } from '../etcd/client.js';
import { loadDataset } from '../demo/load-dataset.js';
import { startEtcd } from '../demo/local-etcd.js';
import { sampleDataset } from '../demo/sample-data.js';
import { OperationError } from '../core/errors.js';
import { createBackup } from '../ops/backup.js';
import { openRepository } from '../ops/repository.js';
import { verifyBackup } from '../ops/verify.js';
import type { CommandContext } from './context.js';
import { listCommand } from './list.js';

/**
 * `reshifter demo`: the main job on an embedded default. Starts a throwaway etcd (Debian's `etcd`) on a free
 * loopback port, fills it with Kubernetes-like data, backs it up into the configured store (`./backups` by
 * default), then lists and verifies the backups. The etcd and its data are removed afterwards.
 */
export async function demoCommand(ctx: CommandContext): Promise<void> {
  const etcd = await startEtcd().catch((err: unknown) => {
    throw new OperationError(`demo: ${(err as Error).message}`);
  });
  try {
    ctx.print(`demo: started a throwaway etcd at ${etcd.endpoint}`);
    // The demo's etcd replaces RS_ETCD_ENDPOINTS; everything else (store, codec, retention) is as configured.
    const loaded = loadConfig({ RS_ETCD_ENDPOINTS: etcd.endpoint });
    const config = { ...ctx.config, etcd: loaded.config!.etcd };
    const client = createEtcdClient(config.etcd);
    const keys = await loadDataset(client, sampleDataset({ namespaces: 5, podsPerNamespace: 20, edgeCases: true })).finally(() => client.close());
    ctx.print(`demo: loaded ${keys} Kubernetes-like keys`);
    const demoCtx = { ...ctx, config };
    const repo = openRepository(config, ctx.log);
    try {
      const manifest = await createBackup(demoCtx, repo);
      ctx.print(`demo: backup ${manifest.id} stored in ${repo.store.location}/${config.cluster}/${manifest.artifact}`);
      await listCommand({ ...demoCtx, args: { positionals: [], flags: {} } });
      const { checks } = await verifyBackup(demoCtx, repo, manifest);
      for (const c of checks) ctx.print(`verify: ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
      if (checks.some((c) => !c.ok)) throw new OperationError('demo: the backup failed verification');
    } finally {
      await repo.store.close();
    }
  } finally {
    await etcd.stop();
  }
}
