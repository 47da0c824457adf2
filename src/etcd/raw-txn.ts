import type { Etcd3 } from 'etcd3';
import { poolOf, type Etcd3Pool, type GrpcMetadata } from './etcd3-pool.js';

/** The KV gRPC client's method (added by `rawTxn`) that sends a Txn already encoded and hands back the reply's bytes. */
const RAW_TXN = Symbol('reshifter.rawTxn');
const TXN_PATH = '/etcdserverpb.KV/Txn';
const asIs = (b: Buffer): Buffer => b;

interface UnaryClient {
  makeUnaryRequest(
    path: string,
    serialize: (b: Buffer) => Buffer,
    deserialize: (b: Buffer) => Buffer,
    request: Buffer,
    metadata: GrpcMetadata,
    options: object,
    callback: (err: unknown, reply?: Buffer) => void,
  ): unknown;
}

function rawTxnMethod(this: UnaryClient, request: Buffer, metadata: GrpcMetadata, options: object, callback: (err: unknown, reply?: Buffer) => void): unknown {
  return this.makeUnaryRequest(TXN_PATH, asIs, asIs, request, metadata, options, callback);
}

const ready = new WeakSet<Etcd3Pool>();

/**
 * Gives the class of etcd3's KV gRPC clients (one class, generated from etcd3's rpc.proto, for every endpoint) the
 * method that `exec` calls. A symbol names it: nothing of etcd3's or grpc-js's can meet it.
 */
function addRawTxn(pool: Etcd3Pool): void {
  if (ready.has(pool)) return;
  for (const host of pool.hosts) {
    let kv: object;
    try {
      kv = host.getServiceClient('KV');
    } catch {
      continue; // a closed client: its call below fails as etcd3's own would
    }
    const proto = Object.getPrototypeOf(kv) as Record<symbol, unknown>;
    if (!Object.hasOwn(proto, RAW_TXN)) Object.defineProperty(proto, RAW_TXN, { value: rawTxnMethod });
    ready.add(pool);
    return;
  }
}

/**
 * Sends a TxnRequest encoded by txn-codec.ts and resolves with the TxnResponse's bytes. It goes the way etcd3's
 * `kv.txn` goes (the pool's exec: endpoints, TLS, auth token, failover, retries within RS_ETCD_TIMEOUT, interrupts,
 * etcd3's error classes), with protobufjs's encoding and decoding left out: see txn-codec.ts for why.
 */
export function rawTxn(client: Etcd3, request: Buffer): Promise<Buffer> {
  const pool = poolOf(client);
  addRawTxn(pool);
  return pool.exec<Buffer>('KV', RAW_TXN, request);
}
