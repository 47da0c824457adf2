import { Transform, type Readable } from 'node:stream';
import { castGrpcError, type Etcd3 } from 'etcd3';
import { poolOf, type GrpcReadable } from './etcd3-pool.js';
import { isTransient, markHostFailed } from './fault-handling.js';
import { currentInterrupt, interruptedError } from './interrupt.js';

interface SnapshotMessage {
  blob?: Buffer;
}

/**
 * Opens etcd's Maintenance.Snapshot stream and returns its bytes (db || sha256 trailer) as a byte stream with
 * back-pressure. Opened through the client's connection pool rather than `client.maintenance.snapshot()`, which
 * in etcd3 1.1.2 sends the auth metadata as the request body and so fails with "user name is empty" under auth.
 *
 * The pool picks a member at random, and a stream fails only once it runs: with one member of three down (when a
 * backup matters most) a third of the snapshots failed. So the stream is returned once its first message has come;
 * a member that fails before that with a passing error (down, unreachable) is marked failed, which has the pool pass
 * it over, and the stream is opened again, once per endpoint at most. Nothing has been read by then, so nothing is
 * stored twice. An operation stopped meanwhile (SIGTERM) cancels the stream.
 */
export async function openSnapshotStream(client: Etcd3): Promise<Readable> {
  const pool = poolOf(client);
  for (let attempt = 1; ; attempt++) {
    let host: unknown;
    // A member known to be down fails the call at once, before it is handed back: its error is kept from then on.
    let failed: Error | undefined;
    const grpc = (await pool.withConnection('Maintenance', ({ resource, client: svc, metadata }) => {
      host = resource;
      const stream = svc.snapshot({}, metadata, {});
      stream.on('error', (err: Error) => (failed ??= err));
      return stream;
    }));
    try {
      if (failed !== undefined) throw failed;
      await firstMessage(grpc, () => failed);
    } catch (caught) {
      const err = castGrpcError(caught as Error);
      if (!isTransient(err) || attempt >= pool.hosts.length) throw err;
      markHostFailed(pool, host, err);
      continue;
    }
    return bytesOf(grpc);
  }
}

/**
 * Resolves once the stream has a message to read (or has ended empty); rejects with its error (`failed`: kept by the
 * stream's first listener, for a call that ends at once and says why just after), or when the operation stops.
 */
function firstMessage(grpc: GrpcReadable, failed: () => Error | undefined): Promise<void> {
  const interrupt = currentInterrupt();
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      grpc.off('readable', onReady).off('end', onReady).off('error', done);
      interrupt?.removeEventListener('abort', onAbort);
      if (err === undefined) return resolve();
      // Errors it may still emit (the cancel's own) go to the listener that kept the first.
      grpc.cancel();
      reject(err);
    };
    // A call that failed ends its stream and then emits the error: an end with nothing read waits a turn for it.
    const onReady = () => (grpc.readableLength > 0 ? done() : setImmediate(() => done(failed())));
    const onAbort = () => done(interruptedError(interrupt!));
    grpc.once('readable', onReady).once('end', onReady).once('error', done);
    if (interrupt?.aborted) onAbort();
    else interrupt?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The stream's messages as bytes; closing the bytes cancels the call. */
function bytesOf(grpc: GrpcReadable): Readable {
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
