import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcd3Descriptor, etcd3ProtoLoader } from '../../../src/etcd/etcd3-proto.js';

// etcd3's own proto-loader and protobufjs, as etcd3 requires them.
const pool = createRequire(import.meta.url).resolve('etcd3/lib/connection-pool.js');
const loaderPath = createRequire(pool).resolve('@grpc/proto-loader');
const fromLoader = createRequire(loaderPath);
const realLoader = fromLoader(loaderPath) as { loadSync(f: string, o: object): Record<string, unknown> };
const util = fromLoader('./util.js') as { loadProtosWithOptionsSync(f: string, o: object): Root };
const RPC = join(dirname(pool), '../proto/rpc.proto');
const OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

interface Field { name: string; type: string; repeated: boolean; map: boolean; keyType?: string; resolvedType: (Type & Partial<Enum>) | null }
interface Type { fieldsArray: Field[]; fullName: string }
interface Enum { values: Record<string, number> }
interface Root { lookupService(n: string): { methodsArray: Array<{ name: string; resolvedRequestType: Type; resolvedResponseType: Type }> } }
interface MethodDef {
  path: string; requestStream: boolean; responseStream: boolean; originalName: string;
  requestSerialize(o: unknown): Buffer; requestDeserialize(b: Buffer): unknown;
  responseSerialize(o: unknown): Buffer; responseDeserialize(b: Buffer): unknown;
  requestType: unknown;
}

/** A message of `type` with every field set (int64 as strings, nested messages two levels deep). */
function sample(type: Type, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of type.fieldsArray) {
    const one = (): unknown => {
      if (f.resolvedType && 'values' in f.resolvedType && f.resolvedType.values) return Object.keys(f.resolvedType.values).at(-1);
      if (f.resolvedType) return depth < 2 ? sample(f.resolvedType, depth + 1) : {};
      if (f.type === 'bytes') return Buffer.from(`v-${f.name}`);
      if (f.type === 'string') return `s-${f.name}`;
      if (f.type === 'bool') return true;
      if (/64/.test(f.type)) return '9007199254740993';
      return 7;
    };
    out[f.name] = f.map ? { k: one() } : f.repeated ? [one(), one()] : one();
  }
  return out;
}

let dir: string;
let descriptorPath: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rs-etcd3-proto-'));
  descriptorPath = join(dir, 'etcd3-rpc.json');
  writeFileSync(descriptorPath, JSON.stringify(etcd3Descriptor()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * etcd3 parsed its .proto files at every start (~30 ms of CPU before a backup's first request, issue #16). The
 * stand-in answers etcd3's loadSync from the build's descriptor: it must be the same gRPC services, byte for byte.
 */
describe("etcd3's package definition from the build's descriptor", () => {
  it('has the entries, methods, paths, streaming and method names of the real loadSync', () => {
    const real = realLoader.loadSync(RPC, OPTIONS);
    const fast = etcd3ProtoLoader(descriptorPath).loadSync(RPC, { ...OPTIONS });
    expect(Object.keys(fast).sort()).toEqual(Object.keys(real).sort());
    for (const [name, entry] of Object.entries(real)) {
      const fastEntry = fast[name] as Record<string, unknown>;
      if ('format' in (entry as object)) {
        expect('format' in fastEntry, name).toBe(true);
        expect(fastEntry.type, name).toEqual((entry as Record<string, unknown>).type);
        continue;
      }
      expect(Object.keys(fastEntry).sort(), name).toEqual(Object.keys(entry as object).sort());
      for (const [method, def] of Object.entries(entry as Record<string, MethodDef>)) {
        const f = fastEntry[method] as MethodDef;
        expect([f.path, f.requestStream, f.responseStream, f.originalName]).toEqual([def.path, def.requestStream, def.responseStream, def.originalName]);
        expect(f.requestType).toEqual(def.requestType);
      }
    }
    expect((fast['etcdserverpb.Maintenance'] as Record<string, MethodDef>).HashKV!.originalName).toBe('hashKv');
  });

  it('encodes and decodes every request and response of every service as the real one does', () => {
    const real = realLoader.loadSync(RPC, OPTIONS);
    const fast = etcd3ProtoLoader(descriptorPath).loadSync(RPC, { ...OPTIONS });
    const root = util.loadProtosWithOptionsSync(RPC, OPTIONS);
    let checked = 0;
    let bytesChecked = 0;
    for (const name of Object.keys(real).filter((n) => !('format' in (real[n] as object)))) {
      for (const m of root.lookupService(name).methodsArray) {
        const r = (real[name] as Record<string, MethodDef>)[m.name]!;
        const f = (fast[name] as Record<string, MethodDef>)[m.name]!;
        const request = sample(m.resolvedRequestType);
        const response = sample(m.resolvedResponseType);
        const bytes = r.requestSerialize(request);
        expect(Buffer.from(f.requestSerialize(request)), `${name}.${m.name}`).toEqual(Buffer.from(bytes));
        expect(f.requestDeserialize(bytes)).toEqual(r.requestDeserialize(bytes));
        const answer = r.responseSerialize(response);
        expect(Buffer.from(f.responseSerialize(response))).toEqual(Buffer.from(answer));
        expect(f.responseDeserialize(answer)).toEqual(r.responseDeserialize(answer));
        // An array is refused by the message's name, as proto-loader refuses it.
        const refusal = (def: MethodDef) => { try { def.requestSerialize([]); return 'serialized'; } catch (err) { return (err as Error).message; } };
        expect(refusal(f), `${name}.${m.name}`).toBe(refusal(r));
        expect(refusal(r)).toMatch(/got array instead/);
        checked++;
        bytesChecked += bytes.length + answer.length;
      }
    }
    expect(checked).toBeGreaterThan(40);
    expect(bytesChecked).toBeGreaterThan(100 * checked);
  });

  // A backup reads ~13,000 of these for 400 MB; the stand-in reads the two fields etcd 3.4 sends without protobufjs.
  it("decodes etcd's snapshot responses as the real one does, whatever they hold", () => {
    const real = (realLoader.loadSync(RPC, OPTIONS)['etcdserverpb.Maintenance'] as Record<string, MethodDef>).Snapshot!;
    const fast = (etcd3ProtoLoader(descriptorPath).loadSync(RPC, { ...OPTIONS })['etcdserverpb.Maintenance'] as Record<string, MethodDef>).Snapshot!;
    const blob = Buffer.alloc(32 * 1024, 7);
    const messages = [
      // As etcd 3.4 sends them: the bytes still to come and a chunk; the last with 0 to come (a field left out).
      { remaining_bytes: '433676320', blob },
      { remaining_bytes: '0', blob: blob.subarray(0, 100) },
      { remaining_bytes: '5', blob: Buffer.alloc(0) },
      {},
      // Taken the general way: a header (etcd 3.5's first message), a number of 2^49 or more.
      { header: { cluster_id: '1', member_id: '2', revision: '3', raft_term: '4' }, remaining_bytes: '10', blob },
      { remaining_bytes: String(2 ** 49), blob },
      { remaining_bytes: '18446744073709551615', blob },
    ];
    for (const m of messages) {
      const bytes = real.responseSerialize(m);
      expect(fast.responseDeserialize(bytes), JSON.stringify(m.remaining_bytes)).toEqual(real.responseDeserialize(bytes));
      // As gRPC hands it over, and as a plain Uint8Array.
      const plain = new Uint8Array(bytes);
      expect(fast.responseDeserialize(plain as Buffer)).toEqual(real.responseDeserialize(plain as Buffer));
    }
    // A field etcd3's .proto does not know (etcd 3.6's version, 4), a multi-byte tag, a message cut short.
    const version = Buffer.concat([real.responseSerialize({ remaining_bytes: '1', blob }), Buffer.from([0x22, 3, 0x33, 0x2e, 0x36])]);
    expect(fast.responseDeserialize(version)).toEqual(real.responseDeserialize(version));
    const far = Buffer.concat([real.responseSerialize({ remaining_bytes: '1', blob }), Buffer.from([0x80, 0x01, 0x01])]);
    expect(fast.responseDeserialize(far)).toEqual(real.responseDeserialize(far));
    const cut = real.responseSerialize({ remaining_bytes: '1', blob }).subarray(0, 100);
    expect(() => fast.responseDeserialize(cut)).toThrow();
    expect(() => real.responseDeserialize(cut)).toThrow();
  });

  it('leaves to the real proto-loader a descriptor of other .proto files, other options, other files', () => {
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ ...etcd3Descriptor(), sha256: '0'.repeat(64) }));
    // The real loadSync's method definitions carry requestType as an own enumerable field; the stand-in's do not.
    const enumerated = (def: Record<string, unknown>) => Object.keys((def['etcdserverpb.KV'] as Record<string, object>).Range!).includes('requestType');
    expect(enumerated(etcd3ProtoLoader(descriptorPath).loadSync(RPC, { ...OPTIONS }))).toBe(false);
    expect(enumerated(etcd3ProtoLoader(other).loadSync(RPC, { ...OPTIONS }))).toBe(true);
    expect(enumerated(etcd3ProtoLoader(descriptorPath).loadSync(RPC, { ...OPTIONS, keepCase: false }))).toBe(true);
    // One of etcd3's options left out, or one more given: other options too (the descriptor was built with etcd3's).
    const { defaults: _defaults, ...withoutDefaults } = OPTIONS;
    expect(enumerated(etcd3ProtoLoader(descriptorPath).loadSync(RPC, withoutDefaults))).toBe(true);
    expect(enumerated(etcd3ProtoLoader(descriptorPath).loadSync(RPC, { ...OPTIONS, arrays: true }))).toBe(true);
    expect(enumerated(etcd3ProtoLoader(join(dir, 'missing.json')).loadSync(RPC, { ...OPTIONS }))).toBe(true);
  });
});
