import { etcdOf, type Manifest } from '../archive/manifest.js';
import { USES } from '../core/latest.js';
import { V2_SUFFIX } from '../core/series.js';
import type { BackupRepository } from '../store/backup-repository.js';

/**
 * A restore of `latest` (no series asked for) is the newest key dump, which may be a `filter:` one (hourly secrets
 * beside daily raw dumps), or a dump of etcd's v2 keyspace (flannel's /coreos.com beside Kubernetes' v3 keys): in a
 * recovery that is not the cluster. Names the newest whole dump of the other series, and how to restore it (`ask`: the
 * CLI's command, the API's request); undefined otherwise (a v2 dump when the store holds no v3 raw dump: a cluster of
 * the v2 era).
 */
export async function wholeDumpNote(repo: BackupRepository, m: Manifest, ask: (whole: Manifest, series: string) => string): Promise<string | undefined> {
  const v2 = etcdOf(m).apiVersion === 'v2';
  const filtered = m.strategy.startsWith('filter:');
  if (!filtered && !v2) return undefined;
  // A filter: dump's whole is the raw dump of its keyspace; a v2 raw dump's, the v3 one.
  const series = filtered && v2 ? `raw${V2_SUFFIX}` : 'raw';
  const whole = await repo.get('latest', USES.restoreKeyDump, series).catch(() => undefined);
  const what = `"latest" is the newest key dump, ${m.id} (${m.strategy}${v2 ? ", etcd's v2 keyspace" : ''})`;
  if (whole === undefined) return filtered ? `${what}; the store holds no ${series} dump` : undefined;
  return (
    `${what}; the newest ${series} dump${v2 && !filtered ? " (etcd's v3 keyspace, where Kubernetes keeps its objects)" : ''} is ${whole.id} ` +
    `(${whole.strategy}, revision ${etcdOf(whole).revision}, taken ${whole.createdAt}): ${ask(whole, series)}`
  );
}
