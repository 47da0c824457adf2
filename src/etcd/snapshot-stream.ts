import { Transform, type Readable } from 'node:stream';
import type { Etcd3 } from 'etcd3';

interface SnapshotMessage {
  blob?: Buffer;
}
interface GrpcStream extends Readable {
  cancel(): void;
}
interface PoolLike {
  withConnection<T>(service: string, fn: (c: { client: Record<string, (...a: unknown[]) => T>; metadata: unknown }) => T): Promise<T>;
}

/**
 * Opens etcd's Maintenance.Snapshot stream and returns its bytes (db || sha256 trailer) as a byte stream with
 * back-pressure. Opened through the client's connection pool rather than `client.maintenance.snapshot()`, which
 * in etcd3 1.1.2 sends the auth metadata as the request body and so fails with "user name is empty" under auth.
 */
export async function openSnapshotStream(client: Etcd3): Promise<Readable> {
  const pool = (client as unknown as { pool: PoolLike }).pool;
  const grpc = (await pool.withConnection('Maintenance', ({ client: svc, metadata }) =>
    svc.snapshot!({}, metadata, {}),
  )) as unknown as GrpcStream;
  const bytes = new Transform({
    writableObjectMode: true,
    readableHighWaterMark: 1024 * 1024,
    transform(msg: SnapshotMessage, _enc, cb) {
      cb(null, msg.blob && msg.blob.length > 0 ? msg.blob : undefined);
    },
  });
  grpc.on('error', (err) => bytes.destroy(err));
  bytes.on('close', () => {
    if (!grpc.destroyed) grpc.cancel();
  });
  return grpc.pipe(bytes);
}
