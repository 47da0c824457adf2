import type { Duplex, Readable } from 'node:stream';
import type { Etcd3 } from 'etcd3';

/** A gRPC call's stream as grpc-js gives it: `cancel()` ends the call. */
export interface GrpcDuplex extends Duplex {
  cancel(): void;
}

/** A server-streaming call's stream. */
export interface GrpcReadable extends Readable {
  cancel(): void;
}

/** gRPC metadata (grpc-js' Metadata): the auth token etcd3 adds, and ours. */
export interface GrpcMetadata {
  clone(): GrpcMetadata;
  set(key: string, value: string): void;
}

/** The gRPC clients of etcd's services that the streams below use, by the method each calls. */
export interface EtcdServiceClient {
  watch(md: GrpcMetadata, opts: object): GrpcDuplex;
  snapshot(req: object, md: GrpcMetadata, opts: object): GrpcReadable;
}

/**
 * etcd3's connection pool (the client's `pool`, not exported by etcd3 1.1.2): the streams etcd3's own API gets wrong
 * or lacks (the snapshot stream under auth, a watch that needs a leader, the compaction revision of a watch) are
 * opened through it, so that they use its endpoints, TLS, auth token and failover as its calls do.
 */
export interface Etcd3Pool {
  hosts: Etcd3Host[];
  authenticator: { invalidateMetadata(): void };
  withConnection<T>(service: string, fn: (c: { resource: unknown; client: EtcdServiceClient; metadata: GrpcMetadata }) => T): Promise<T>;
  /**
   * A unary call as etcd3's own API makes it (`kv.txn(req)` is `exec('KV', 'txn', req)`): its retry and deadline
   * (fault-handling.ts), failover, auth token (got again when etcd says it is invalid) and error classes;
   * `client[method](payload, metadata, options, callback)` of the service's gRPC client makes the request.
   */
  exec<T>(service: string, method: string | symbol, payload: unknown): Promise<T>;
  /** Tells the pool's failover that an endpoint failed: it is passed over for a while. */
  markFailed(resource: unknown, err: unknown): void;
}

/** One endpoint of the pool (etcd3's Host): its gRPC client of a service, made when first asked for. */
export interface Etcd3Host {
  getServiceClient(service: string): object;
}

export const poolOf = (client: Etcd3): Etcd3Pool => (client as unknown as { pool: Etcd3Pool }).pool;
