import type { Readable } from 'node:stream';
import { castGrpcError } from 'etcd3';
import { SnapshotTrailerCheck } from '../archive/snapshot-trailer.js';
import type { EtcdConfig } from '../config/types.js';
import { SNAPSHOT_CONTENT_TYPE } from '../core/content-type.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../log.js';
import { currentMember, type CurrentMember } from './current-member.js';
import { toEtcdError } from './errors.js';
import { isTransient } from './fault-handling.js';
import { openSnapshotStream } from './snapshot-stream.js';
import type { BackupSource } from './source.js';

/**
 * The `snapshot` strategy: etcd's own Maintenance.Snapshot, checked against its sha256 trailer on the way. The
 * snapshot is taken of one member that is current with its cluster (current-member.ts: a member cut off from the
 * others would give the data it had when it lost contact), and its revision is that of a linearizable read through
 * that same member just before the stream opens (etcd 3.4 sends none with the stream): the snapshot holds at least it.
 */
export async function snapshotSource(cfg: EtcdConfig, log: Logger): Promise<BackupSource> {
  const { member, grpc } = await openCurrentSnapshot(cfg, log);
  const check = new SnapshotTrailerCheck();
  grpc.on('error', (err) => check.destroy(toEtcdError(err, 'streaming the snapshot', { ...cfg, endpoints: [member.endpoint] })));
  // pipe() never passes a destroy upstream: a backup that gave up (SIGTERM) would leave the gRPC stream open, and the
  // process waiting on it until cli-main.ts's safety timer. Closing the bytes cancels the call.
  check.on('close', () => {
    grpc.destroy();
    member.client.close();
  });
  const ended = new Promise<void>((resolve, reject) => {
    check.on('end', resolve);
    check.on('error', reject);
    check.on('close', () => reject(new Error('snapshot stream closed before it ended')));
  });
  ended.catch(() => undefined);
  return {
    contentType: SNAPSHOT_CONTENT_TYPE,
    format: 'snapshot.db',
    stream: grpc.pipe(check),
    // The database file is what the stream sends (plus a 32-byte sha256); it may change a little meanwhile.
    expectedBytes: member.dbSize,
    contentSha256: () => check.fullDigest(),
    async facts() {
      await ended;
      return { etcdVersion: member.version, revision: member.revision, apiVersion: 'v3' };
    },
  };
}

/**
 * The snapshot stream of a current member, once its first bytes came. A member whose stream fails before that with a
 * passing error (it died just now) is left for the next current one, once per endpoint at most: nothing was read yet.
 */
async function openCurrentSnapshot(cfg: EtcdConfig, log: Logger): Promise<{ member: CurrentMember; grpc: Readable }> {
  const tried = new Set<string>();
  for (;;) {
    const member = await currentMember(cfg, tried, (p) =>
      log.warn({ endpoint: p.endpoint, err: describeError(p.error) }, `snapshot not taken of ${p.endpoint}: it ${p.reason}`),
    );
    tried.add(member.endpoint);
    try {
      const grpc = await openSnapshotStream(member.client);
      log.info({ endpoint: member.endpoint, revision: member.revision }, `taking the snapshot of ${member.endpoint}`);
      return { member, grpc };
    } catch (err) {
      member.client.close();
      const failed = castGrpcError(err as Error);
      if (!isTransient(failed) || tried.size >= cfg.endpoints.length) throw toEtcdError(failed, 'opening the snapshot stream', { ...cfg, endpoints: [member.endpoint] });
      log.warn({ endpoint: member.endpoint, err: describeError(failed) }, `the snapshot stream of ${member.endpoint} failed before its first byte: trying another member`);
    }
  }
}
