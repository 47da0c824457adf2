import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { encodeTxn, txnSucceeded, type TxnPut } from '../../../src/etcd/txn-codec.js';

/** etcd3's own definitions, loaded as etcd3 loads them (connection-pool.js): its encoder is what ours must equal. */
const etcd3 = createRequire(import.meta.url).resolve('etcd3');
const protoLoader = createRequire(etcd3)('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
const definition = protoLoader.loadSync(etcd3.replace(/lib[/\\]index\.js$/, 'proto/rpc.proto'), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const txn = (definition['etcdserverpb.KV'] as Record<string, { requestSerialize(v: object): Buffer; requestDeserialize(b: Buffer): any; responseSerialize(v: object): Buffer }>).Txn!;

/** The request etcd3's `kv.txn` was given before: a compare per key that must be absent, a put per record. */
function etcd3Request(absent: readonly Buffer[], puts: readonly TxnPut[], leases?: ReadonlyArray<string | undefined>): object {
  return {
    ...(absent.length > 0 && { compare: absent.map((key) => ({ key, target: 'Version', result: 'Equal', version: 0 })), failure: [] }),
    success: puts.map((p, i) => ({ request_put: { key: p.key, value: p.value, ...(leases?.[i] !== undefined && { lease: leases[i] }) } })),
  };
}

const put = (key: string | Buffer, size: number, fill = 7): TxnPut => ({ key: typeof key === 'string' ? Buffer.from(key) : key, value: Buffer.alloc(size, fill) });

/** Sizes around every varint length boundary a restore meets (1, 2 and 3 bytes), empty values included. */
const PUTS: TxnPut[] = [
  put('/registry/pods/default/a', 0),
  put('/registry/pods/default/b', 1),
  put('/registry/pods/default/c', 127),
  put('/registry/pods/default/d', 128),
  put('/registry/pods/default/e', 16_383),
  put('/registry/pods/default/f', 16_384),
  put('/registry/pods/default/g', 300_000),
  put(Buffer.from([0, 0xff, 0xfe, 0x80]), 5),
  put('k'.repeat(200), 3),
];

describe('the hand-written Txn encoding', () => {
  it('writes the bytes etcd3 writes for plain puts', () => {
    expect(encodeTxn([], PUTS).equals(txn.requestSerialize(etcd3Request([], PUTS)))).toBe(true);
  });

  it('writes the bytes etcd3 writes for "create if none of the keys exists"', () => {
    const keys = [...PUTS.map((p) => p.key), Buffer.from('/registry/other')];
    expect(encodeTxn(keys, PUTS).equals(txn.requestSerialize(etcd3Request(keys, PUTS)))).toBe(true);
  });

  it('writes the leases as etcd3 writes int64 ids (small, large, the largest, negative), and none where a put has none', () => {
    const leases = [undefined, '1', '7587869370185843210', '9223372036854775807', '-1', '127', '128', undefined, '300'];
    expect(encodeTxn([], PUTS, leases).equals(txn.requestSerialize(etcd3Request([], PUTS, leases)))).toBe(true);
  });

  it('is read back by etcd3 as the request it would have sent', () => {
    const keys = [PUTS[0]!.key, PUTS[7]!.key];
    const decoded = txn.requestDeserialize(encodeTxn(keys, [PUTS[0]!, PUTS[7]!], ['7587869370185843210', undefined]));
    expect(decoded.compare).toEqual(
      keys.map((key) => expect.objectContaining({ key, target: 'Version', result: 'Equal', version: '0', target_union: 'version' })),
    );
    expect(decoded.success).toEqual([
      expect.objectContaining({ request: 'request_put', request_put: expect.objectContaining({ key: PUTS[0]!.key, value: PUTS[0]!.value, lease: '7587869370185843210' }) }),
      expect.objectContaining({ request: 'request_put', request_put: expect.objectContaining({ key: PUTS[7]!.key, value: PUTS[7]!.value, lease: '0' }) }),
    ]);
    expect(decoded.failure).toEqual([]);
  });

  it('writes an empty request for nothing (etcd answers it as a transaction that succeeded)', () => {
    expect(encodeTxn([], []).length).toBe(0);
  });
});

describe("reading a Txn reply's succeeded", () => {
  const header = { cluster_id: '14841639068965178418', member_id: '10276657743932975437', revision: '123456789', raft_term: '3' };
  const putReply = { response_put: { header, prev_kv: null } };

  it('reads etcd3-encoded replies: succeeded or not, with a header and a response per put', () => {
    expect(txnSucceeded(txn.responseSerialize({ header, succeeded: true, responses: [putReply, putReply] }))).toBe(true);
    expect(txnSucceeded(txn.responseSerialize({ header, succeeded: false, responses: [] }))).toBe(false);
    // A reply whose fields are all defaults is empty: not succeeded.
    expect(txnSucceeded(Buffer.alloc(0))).toBe(false);
  });

  it('reads a reply with a field it does not know, of each wire type', () => {
    const unknown = Buffer.from([0x38, 0x96, 0x01, 0x41, 1, 2, 3, 4, 5, 6, 7, 8, 0x4d, 1, 2, 3, 4, 0x52, 2, 9, 9]);
    expect(txnSucceeded(Buffer.concat([unknown, Buffer.from([0x10, 0x01])]))).toBe(true);
  });

  it('refuses a reply cut inside a field', () => {
    const whole = txn.responseSerialize({ header, succeeded: true, responses: [putReply] });
    expect(() => txnSucceeded(whole.subarray(0, 5))).toThrow(/ends inside a field|past the end/);
  });
});
