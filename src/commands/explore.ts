import { EtcdError } from '../core/errors.js';
import { explore } from '../ops/explore.js';
import { formatBytes } from '../progress.js';
import type { EndpointReport } from '../etcd/explore-endpoint.js';
import type { CommandContext } from './context.js';

/**
 * `reshifter explore [--json]`: what the etcd endpoint is and holds. When the v3 keyspace could not be read (the
 * credentials), prints what was found all the same and then fails with why.
 */
export async function exploreCommand(ctx: CommandContext): Promise<void> {
  const result = await explore(ctx.config, ctx.signal, ctx.log);
  if (ctx.args.flags.json) ctx.print(JSON.stringify(result, null, 2));
  else printReport(ctx, result);
  if (result.keyspaceError !== undefined) throw new EtcdError(result.keyspaceError);
}

function printReport(ctx: CommandContext, result: EndpointReport): void {
  const down = new Map((result.unanswered ?? []).map((u) => [u.endpoint, u.error]));
  ctx.print(`endpoints:    ${result.endpoints.map((e) => (down.has(e) ? `${e} (not answering)` : e)).join(', ')}`);
  for (const [endpoint, error] of down) ctx.print(`  ${endpoint}: ${error}`);
  ctx.print(`etcd version: ${result.etcdVersion} (API ${result.apiVersions.join(', ')})`);
  const certRequired = result.clientCertificateRequired === undefined ? '' : result.clientCertificateRequired ? ', client certificate required' : ', client certificate not required';
  ctx.print(`tls:          ${result.tls ? `yes${result.clientCertificate ? ' (client certificate configured)' : ''}${certRequired}` : 'no'}`);
  const authState = result.authEnabled === undefined ? 'unknown' : result.authEnabled ? 'enabled' : 'disabled';
  ctx.print(`auth:         ${authState}${result.auth ? ' (username/password configured)' : ''}`);
  const k8s = result.kubernetes;
  // With the quorum lost nothing was looked for: "none found" would read as a cluster without Kubernetes.
  const unread = result.keyspaceError !== undefined ? ' (the v3 keyspace could not be read)' : '';
  const found = result.quorumLost === true ? 'not known (the v3 keyspace was not read: etcd has lost its quorum)' : `${k8s.distribution === 'none' ? 'none found' : k8s.distribution}${unread}`;
  ctx.print(`kubernetes:   ${found}`);
  for (const p of k8s.prefixes) ctx.print(`  ${p.prefix} (${p.api})${p.keys !== undefined ? ` ${p.keys} keys` : ''}`);
  ctx.print(`db size:      ${formatBytes(result.dbSizeBytes)}`);
  ctx.print(`revision:     ${result.revision}`);
  const leaderName = result.members.find((m) => m.id === result.leader)?.name;
  const noLeader = result.leader === '0' ? 'none, as the member that answered sees it (see status per endpoint)' : undefined;
  ctx.print(`leader:       ${noLeader ?? (leaderName !== undefined ? `${leaderName} (${hexId(result.leader)})` : hexId(result.leader))}`);
  if (result.alarms.length > 0) {
    ctx.print(`alarms:       ${result.alarms.join(', ')}: etcd refuses writes until they are cleared (NOSPACE: make room, then "etcdctl alarm disarm")`);
  }
  ctx.print('members:');
  for (const m of result.members) ctx.print(`  ${hexId(m.id)} ${m.name} ${m.clientURLs.join(',')}${m.isLeader ? ' (leader)' : ''}`);
  printStatuses(ctx, result);
}

/**
 * Each endpoint's own view, as `etcdctl endpoint status` shows it: which one leads, and one with no leader or a raft
 * index behind the others' (a member cut off from the rest answers with its own stale data). The lines above come
 * from whichever member answered.
 */
function printStatuses(ctx: CommandContext, result: EndpointReport): void {
  const statuses = (result.endpointStatus ?? []).filter((s) => s.error === undefined);
  if (statuses.length === 0) return;
  const names = new Map(result.members.map((m) => [m.id, m.name]));
  const top = Math.max(...statuses.map((s) => s.raftIndex ?? 0));
  ctx.print('status per endpoint:');
  for (const s of statuses) {
    const name = names.get(s.memberId ?? '') ?? s.memberId ?? '?';
    const role = s.leader === '0' ? 'NO LEADER' : s.leader === s.memberId ? 'leader' : `follower of ${names.get(s.leader ?? '') ?? s.leader}`;
    const behind = top - (s.raftIndex ?? 0);
    const lag = behind > 0 ? `, ${behind} behind` : '';
    const errors = (s.errors ?? []).length > 0 ? ` (${s.errors!.join('; ')})` : '';
    const stale = s.leader === '0' ? ': cut off from the other members (or quorum lost); its data may be stale' : '';
    ctx.print(`  ${name} ${s.endpoint}: ${role}${errors}, raft term ${s.raftTerm}, index ${s.raftIndex} (applied ${s.raftAppliedIndex}${lag}), revision ${s.revision}${stale}`);
  }
}

/**
 * A member id as etcdctl prints it (hex: `member list`, `endpoint status`, etcd's logs), so the two can be compared;
 * `--json` keeps etcd's decimal. One that is not a number is shown as it is.
 */
function hexId(id: string): string {
  return /^\d+$/.test(id) ? BigInt(id).toString(16) : id;
}
