import { checkpointDirProblem } from '../config/checkpoint-parsers.js';
import type { CheckpointConfig, Config } from '../config/types.js';
import type { CheckpointTarget } from '../core/checkpoint-targets.js';
import { ConfigError } from '../core/errors.js';
import type { KubeletConfig } from '../kubelet/types.js';

/** A `GET /pods` is small: it gets this long (a checkpoint gets RS_CHECKPOINT_TIMEOUT plus a margin). */
const PODS_TIMEOUT_MS = 30_000;

/** What a checkpoint run needs, checked. */
export interface CheckpointSettings extends Omit<CheckpointConfig, 'targets' | 'kubelet'> {
  targets: CheckpointTarget[];
  kubelet: KubeletConfig;
}

/**
 * The checkpoint configuration, with the rules loadConfig applies when RS_BACKUP_STRATEGY is checkpoint checked
 * again: a run can be asked for otherwise (the API's {"strategy":"checkpoint"}). Throws a ConfigError naming every
 * missing piece.
 */
export function checkpointSettings(config: Config): CheckpointSettings {
  const c = config.checkpoint;
  const problems: string[] = [];
  if (c.targets === undefined || c.targets.length === 0) {
    problems.push('a checkpoint backup needs RS_CHECKPOINT_TARGETS: the containers to checkpoint (namespace/pod/container, * for every pod or container: shop/*, default/web/*)');
  }
  if (c.kubelet.clientCertFile === undefined && c.kubelet.tokenFile === undefined) {
    problems.push('a checkpoint backup needs credentials the kubelet accepts: RS_KUBELET_CLIENT_CERT and RS_KUBELET_CLIENT_KEY, or RS_KUBELET_TOKEN_FILE');
  }
  const dir = checkpointDirProblem(c.dir, c.keepLocal);
  if (dir !== undefined) problems.push(dir);
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...c, targets: c.targets!, kubelet: { ...c.kubelet, timeoutMs: PODS_TIMEOUT_MS } };
}
