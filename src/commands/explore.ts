import { exploreV3 } from '../etcd/explore.js';
import { formatBytes } from '../progress.js';
import type { CommandContext } from './context.js';
import { withEtcd } from './shared.js';

/** `reshifter explore [--json]`: what the etcd endpoint is and holds. */
export async function exploreCommand(ctx: CommandContext): Promise<void> {
  const result = await withEtcd(ctx.config, (etcd) => exploreV3(etcd, ctx.config.etcd));
  if (ctx.args.flags.json) {
    ctx.print(JSON.stringify(result, null, 2));
    return;
  }
  ctx.print(`endpoints:    ${result.endpoints.join(', ')}`);
  ctx.print(`etcd version: ${result.etcdVersion} (API ${result.apiVersions.join(', ')})`);
  ctx.print(`tls:          ${result.tls ? `yes${result.clientCertificate ? ', client certificate' : ''}` : 'no'}`);
  ctx.print(`auth:         ${result.auth ? 'username/password' : 'none'}`);
  ctx.print(`db size:      ${formatBytes(result.dbSizeBytes)}`);
  ctx.print(`revision:     ${result.revision}`);
  ctx.print(`leader:       ${result.leader}`);
  ctx.print('members:');
  for (const m of result.members) ctx.print(`  ${m.id} ${m.name} ${m.clientURLs.join(',')}${m.isLeader ? ' (leader)' : ''}`);
}
