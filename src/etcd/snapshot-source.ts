import type { Etcd3 } from 'etcd3';
import { SnapshotTrailerCheck } from '../archive/snapshot-trailer.js';
import type { EtcdConfig } from '../config/types.js';
import { SNAPSHOT_CONTENT_TYPE } from '../core/content-type.js';
import { toEtcdError } from './errors.js';
import { openSnapshotStream } from './snapshot-stream.js';
import type { BackupSource } from './source.js';

/**
 * The `snapshot` strategy: etcd's own Maintenance.Snapshot, checked against its sha256 trailer on the way.
 * etcd 3.4 sends no revision with the stream, so the revision is read by a Status call just before it opens;
 * the snapshot holds at least that revision.
 */
export async function snapshotSource(client: Etcd3, cfg: EtcdConfig): Promise<BackupSource> {
  let status;
  try {
    status = await client.maintenance.status();
  } catch (err) {
    throw toEtcdError(err, 'reading etcd status', cfg);
  }
  let grpc;
  try {
    grpc = await openSnapshotStream(client);
  } catch (err) {
    throw toEtcdError(err, 'opening the snapshot stream', cfg);
  }
  const check = new SnapshotTrailerCheck();
  grpc.on('error', (err) => check.destroy(toEtcdError(err, 'streaming the snapshot', cfg)));
  // pipe() never passes a destroy upstream: a backup that gave up (SIGTERM) would leave the gRPC stream open, and the
  // process waiting on it until cli-main.ts's safety timer. Closing the bytes cancels the call.
  check.on('close', () => grpc.destroy());
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
    expectedBytes: Number(status.dbSize),
    contentSha256: () => check.fullDigest(),
    async facts() {
      await ended;
      return { etcdVersion: status.version, revision: Number(status.header.revision), apiVersion: 'v3' };
    },
  };
}
