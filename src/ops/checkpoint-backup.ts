import type { Manifest } from '../archive/manifest.js';
import { containerKey, selectCheckpointContainers, type CheckpointTarget, type SelectedContainer } from '../core/checkpoint-targets.js';
import { AbortedError, OperationError, describeError } from '../core/errors.js';
import { KubeletClient } from '../kubelet/client.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { BackupOptions } from './backup.js';
import { checkpointContainer, type ContainerJob } from './checkpoint-container.js';
import { checkpointSettings } from './checkpoint-settings.js';
import type { OpContext } from './context.js';
import { encryptionKeys } from './encryption-keys.js';

/** One container (or target) that could not be checkpointed, and why, in an operator's words. */
export interface CheckpointFailure {
  /** `namespace/pod/container`, or the RS_CHECKPOINT_TARGETS entry that matched nothing. */
  container: string;
  reason: string;
}

export interface CheckpointRunResult {
  /** One stored backup per container checkpointed, in container order. */
  manifests: Manifest[];
  failures: CheckpointFailure[];
}

/**
 * A checkpoint run in which some containers failed: the others are stored (their manifests are here); nothing was
 * stored for the failed ones. Exit code 1, its message names each failure.
 */
export class CheckpointRunError extends OperationError {
  override name = 'CheckpointRunError';
  constructor(readonly result: CheckpointRunResult) {
    const total = result.manifests.length + result.failures.length;
    super(
      `${result.failures.length} of ${total} container checkpoints failed, nothing was stored for them:\n` +
        result.failures.map((f) => `  ${f.container}: ${f.reason}`).join('\n'),
    );
  }
}

/**
 * Checkpoints every running container RS_CHECKPOINT_TARGETS selects among the node's pods (the kubelet's `GET /pods`),
 * one after another (each dumps a container's whole memory to the node's disk), each stored as its own backup. A
 * failure of one container is recorded and the next is taken; a target that selects nothing is a failure too (the
 * operator asked for it). Throws only when nothing can start (configuration, the pod list): then no container was
 * checkpointed.
 */
export async function checkpointBackups(ctx: OpContext, repo: BackupRepository, opts: BackupOptions = {}): Promise<CheckpointRunResult> {
  const settings = checkpointSettings(ctx.config);
  const keys = await encryptionKeys(ctx.config);
  const client = new KubeletClient(settings.kubelet);
  const result: CheckpointRunResult = { manifests: [], failures: [] };
  try {
    const { containers, nodes } = await selectContainers(ctx, client, settings.targets, result, opts);
    ctx.log.info({ containers: containers.map(containerKey), store: repo.store.location }, 'checkpoint backups started');
    for (const c of containers) {
      if (ctx.signal.aborted) throw new AbortedError('checkpoint backups interrupted (SIGTERM/SIGINT)');
      const job: ContainerJob = { repo, client, settings, keys, node: nodes.get(`${c.namespace}/${c.pod}`), ...(opts.onProgress && { onProgress: opts.onProgress }) };
      await takeOne(ctx, job, c, result, opts);
    }
  } finally {
    client.close();
  }
  return result;
}

/**
 * The running containers the targets select among the node's pods, and each pod's node. A target that selects nothing
 * goes into the result's failures. Those failures and a failed pod list are told to the observer as well: `run`'s
 * metrics and health must show a run that checkpoints nothing.
 */
async function selectContainers(ctx: OpContext, client: KubeletClient, targets: CheckpointTarget[], result: CheckpointRunResult, opts: BackupOptions) {
  const started = Date.now();
  const failed = (id: string, err: unknown) =>
    opts.observer?.backupFailed?.({ id, strategy: 'checkpoint', durationMs: Date.now() - started, aborted: err instanceof AbortedError, reason: describeError(err) });
  const pods = await client.listPods(ctx.signal).catch((err: unknown) => {
    ctx.log.error({ err: describeError(err) }, 'checkpoint backups failed');
    failed('pods', err);
    throw err;
  });
  const selection = selectCheckpointContainers(targets, pods);
  for (const s of selection.skipped) ctx.log.info({ container: containerKey(s), state: s.state }, 'container not running; not checkpointed');
  for (const u of selection.unmatched) {
    ctx.log.error({ target: u.target.text, why: u.why }, 'checkpoint target selects nothing');
    failed(u.target.text, u.why);
    result.failures.push({ container: u.target.text, reason: u.why });
  }
  return { containers: selection.containers, nodes: new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p.nodeName])) };
}

/** One container: its manifest into the result, or its failure (and the observer told either way). */
async function takeOne(ctx: OpContext, job: ContainerJob, c: SelectedContainer, result: CheckpointRunResult, opts: BackupOptions): Promise<void> {
  const started = Date.now();
  try {
    const manifest = await checkpointContainer(ctx, job, c);
    result.manifests.push(manifest);
    opts.observer?.backupSucceeded?.(manifest);
  } catch (err) {
    const aborted = err instanceof AbortedError || ctx.signal.aborted;
    ctx.log.error({ container: containerKey(c), err: describeError(err) }, 'checkpoint backup failed');
    opts.observer?.backupFailed?.({ id: containerKey(c), strategy: 'checkpoint', durationMs: Date.now() - started, aborted, reason: describeError(err) });
    if (aborted) throw err;
    result.failures.push({ container: containerKey(c), reason: describeError(err) });
  }
}
