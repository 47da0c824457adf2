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
  const unread = result.keyspaceError !== undefined ? ' (the v3 keyspace could not be read)' : '';
  ctx.print(`kubernetes:   ${k8s.distribution === 'none' ? 'none found' : k8s.distribution}${unread}`);
  for (const p of k8s.prefixes) ctx.print(`  ${p.prefix} (${p.api})${p.keys !== undefined ? ` ${p.keys} keys` : ''}`);
  ctx.print(`db size:      ${formatBytes(result.dbSizeBytes)}`);
  ctx.print(`revision:     ${result.revision}`);
  ctx.print(`leader:       ${result.leader}`);
  if (result.alarms.length > 0) {
    ctx.print(`alarms:       ${result.alarms.join(', ')}: etcd refuses writes until they are cleared (NOSPACE: make room, then "etcdctl alarm disarm")`);
  }
  ctx.print('members:');
  for (const m of result.members) ctx.print(`  ${m.id} ${m.name} ${m.clientURLs.join(',')}${m.isLeader ? ' (leader)' : ''}`);
}
