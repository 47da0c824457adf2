// etcd3 parses etcd's .proto files when it is loaded (@grpc/proto-loader's loadSync, in its connection-pool.js), then
// proto-loader builds a reflection descriptor of every message: ~30 ms of CPU at the start of every command that talks
// to etcd, before the first request (issue #16; README, Performance). `npm run build` writes the parsed files as
// protobufjs JSON beside this module (scripts/etcd3-descriptor.mjs); preloadEtcd3Proto gives etcd3 a proto-loader
// whose loadSync answers etcd3's own call from that JSON, with the same serializers, paths and method names, and the
// reflection parts (which no client call reads) made by the real proto-loader only if something reads them. Nothing
// in node_modules changes: the stand-in is an entry of require.cache, Node's documented module cache.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const require = createRequire(import.meta.url);

/** The options etcd3 1.x passes to loadSync: another call (another etcd3) goes to the real proto-loader. */
const ETCD3_OPTIONS: Record<string, unknown> = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** What `npm run build` writes: protobufjs JSON of etcd3's rpc.proto, and the sha256 of the .proto files it came from. */
export interface Etcd3Descriptor {
  sha256: string;
  root: Record<string, unknown>;
}

type Loader = { loadSync(filename: string, options?: Record<string, unknown>): Record<string, unknown> };
interface Places {
  rpcProto: string;
  loaderPath: string;
  loaderRequire: NodeJS.Require;
}

/** Where etcd3's rpc.proto and the proto-loader etcd3 requires are. */
function places(): Places {
  const pool = require.resolve('etcd3/lib/connection-pool.js');
  const loaderPath = createRequire(pool).resolve('@grpc/proto-loader');
  return { rpcProto: join(dirname(pool), '../proto/rpc.proto'), loaderPath, loaderRequire: createRequire(loaderPath) };
}

/** The sha256 of etcd3's .proto files, in a fixed order: a descriptor of other files is not used. */
function protoSha256(rpcProto: string): string {
  const hash = createHash('sha256');
  for (const f of ['rpc.proto', 'kv.proto', 'auth.proto']) hash.update(readFileSync(join(dirname(rpcProto), f)));
  return hash.digest('hex');
}

/** The descriptor of the installed etcd3's .proto files, parsed as proto-loader parses them (the build writes it). */
export function etcd3Descriptor(): Etcd3Descriptor {
  const { rpcProto, loaderRequire } = places();
  const util = loaderRequire('./util.js') as { loadProtosWithOptionsSync(f: string, o: object): { toJSON(): Record<string, unknown> } };
  return { sha256: protoSha256(rpcProto), root: util.loadProtosWithOptionsSync(rpcProto, ETCD3_OPTIONS).toJSON() };
}

/**
 * Before etcd3 is first loaded: etcd3's require of @grpc/proto-loader gets the stand-in, whose loadSync answers from
 * the descriptor at `descriptorPath` when it matches the installed etcd3's .proto files. Without the file (src under
 * vitest, a build without it), once proto-loader is loaded, or for a descriptor of other files, etcd3 parses its files
 * as before. Returns whether the stand-in is in place.
 */
export function preloadEtcd3Proto(descriptorPath: string | URL = new URL('etcd3-rpc.json', import.meta.url)): boolean {
  try {
    const at = places();
    if (require.cache[at.loaderPath] !== undefined || !existsSync(descriptorPath)) return false;
    const stand = new Module(at.loaderPath);
    stand.filename = at.loaderPath;
    stand.loaded = true;
    stand.exports = standInLoader(at, descriptorPath);
    require.cache[at.loaderPath] = stand;
    return true;
  } catch {
    return false;
  }
}

/** The stand-in proto-loader with the descriptor at `descriptorPath`, made but not put in place (for tests). */
export function etcd3ProtoLoader(descriptorPath: string | URL): Loader {
  return standInLoader(places(), descriptorPath) as Loader;
}

/** The descriptor at `path` when it describes the installed etcd3's .proto files, else undefined. */
function matchingDescriptor(at: Places, path: string | URL): Etcd3Descriptor | undefined {
  try {
    const descriptor = JSON.parse(readFileSync(path, 'utf8')) as Etcd3Descriptor;
    return descriptor.sha256 === protoSha256(at.rpcProto) ? descriptor : undefined;
  } catch {
    return undefined;
  }
}

/** proto-loader's exports, with loadSync answering etcd3's call from the descriptor; the rest is the real module's. */
function standInLoader(at: Places, descriptorPath: string | URL): object {
  let loader: Loader | undefined;
  const real = (): Loader => {
    if (loader === undefined) {
      if (require.cache[at.loaderPath]?.exports === stand) delete require.cache[at.loaderPath];
      loader = at.loaderRequire(at.loaderPath) as Loader;
    }
    return loader;
  };
  const loadSync = (filename: string, options?: Record<string, unknown>): Record<string, unknown> => {
    const descriptor = resolve(filename) === at.rpcProto && sameOptions(options) ? matchingDescriptor(at, descriptorPath) : undefined;
    if (descriptor === undefined) return real().loadSync(filename, options);
    return packageDefinition(at, descriptor, () => real().loadSync(filename, options));
  };
  const stand: object = new Proxy({}, { get: (_, name) => (name === 'loadSync' ? loadSync : Reflect.get(real(), name)) });
  return stand;
}

function sameOptions(options: Record<string, unknown> | undefined): boolean {
  const given = Object.entries(options ?? {});
  return given.length === Object.keys(ETCD3_OPTIONS).length && given.every(([k, v]) => ETCD3_OPTIONS[k] === v);
}

interface ReflectionObject {
  name: string;
  nestedArray?: ReflectionObject[];
  methodsArray?: Method[];
}
interface MessageType {
  encode(m: unknown): { finish(): Uint8Array };
  decode(b: Uint8Array): unknown;
  fromObject(o: unknown): unknown;
  toObject(m: unknown, o: object): unknown;
}
interface Method {
  name: string;
  requestStream?: boolean;
  responseStream?: boolean;
  resolvedRequestType: MessageType;
  resolvedResponseType: MessageType;
}

/**
 * What proto-loader's loadSync returns for etcd3's rpc.proto: a service definition per service (path, streaming,
 * serializers as proto-loader makes them, originalName in lodash's camelCase) and an entry per message and enum.
 * requestType, responseType and options of a method, and the fields of the entries of messages and enums, are
 * reflection data read by nothing on a client call: getters that take them from the real loadSync when read.
 */
function packageDefinition(at: Places, descriptor: Etcd3Descriptor, fullOnce: () => Record<string, unknown>): Record<string, unknown> {
  const protobuf = at.loaderRequire('protobufjs/light') as { Root: { fromJSON(j: object): { resolveAll(): unknown } & ReflectionObject }; Service: Function; Type: Function; Enum: Function };
  const camelCase = at.loaderRequire('lodash.camelcase') as (s: string) => string;
  let full: Record<string, unknown> | undefined;
  const fromFull = (...path: string[]): unknown => path.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], (full ??= fullOnce()));
  const root = protobuf.Root.fromJSON(descriptor.root);
  root.resolveAll();
  const def: Record<string, unknown> = {};
  const walk = (ns: ReflectionObject, prefix: string): void => {
    for (const obj of ns.nestedArray ?? []) {
      const name = prefix === '' ? obj.name : `${prefix}.${obj.name}`;
      if (obj instanceof protobuf.Service) {
        const service: Record<string, unknown> = {};
        for (const m of obj.methodsArray!) service[m.name] = methodDefinition(m, name, camelCase, (...p) => fromFull(name, m.name, ...p));
        def[name] = service;
      } else if (obj instanceof protobuf.Type || obj instanceof protobuf.Enum) {
        def[name] = lazily({}, ['format', 'type', 'fileDescriptorProtos'], (k) => fromFull(name, k));
      } else {
        // A namespace; as in proto-loader, the types nested in a message are not entries of their own.
        walk(obj, name);
      }
    }
  };
  walk(root, '');
  return def;
}

function methodDefinition(m: Method, service: string, camelCase: (s: string) => string, full: (...path: string[]) => unknown): Record<string, unknown> {
  const req = m.resolvedRequestType;
  const res = m.resolvedResponseType;
  const method = {
    path: `/${service}/${m.name}`,
    requestStream: !!m.requestStream,
    responseStream: !!m.responseStream,
    requestSerialize: serializer(req),
    requestDeserialize: (b: Uint8Array) => req.toObject(req.decode(b), ETCD3_OPTIONS),
    responseSerialize: serializer(res),
    responseDeserialize: service === 'etcdserverpb.Maintenance' && m.name === 'Snapshot' ? snapshotResponseDeserializer(res) : (b: Uint8Array) => res.toObject(res.decode(b), ETCD3_OPTIONS),
    originalName: camelCase(m.name),
  };
  return lazily(method, ['requestType', 'responseType', 'options'], (k) => full(k));
}

/**
 * Maintenance.Snapshot's responses, ~13,000 of 32 KiB for a 400 MB snapshot, as the general path decodes them
 * (SnapshotResponse { header = 1; uint64 remaining_bytes = 2; bytes blob = 3 }): `{ header: null, remaining_bytes,
 * blob }`, the blob a view of the message. Read here without protobufjs: its generated decode and toObject and Long's
 * helpers were compiled by TurboFan during every backup (~40 ms of CPU, issue #16), for two fields. A message with
 * anything else (a header, as etcd 3.5 sends in its first; a field etcd3's .proto does not know; a number of 2^49 or
 * more) goes the general way.
 */
function snapshotResponseDeserializer(res: MessageType): (b: Uint8Array) => unknown {
  return (b) => {
    const fast = readSnapshotResponse(b);
    return fast ?? res.toObject(res.decode(b), ETCD3_OPTIONS);
  };
}

/** Tags of SnapshotResponse's remaining_bytes (field 2, varint) and blob (field 3, length-delimited). */
const REMAINING_TAG = 0x10;
const BLOB_TAG = 0x1a;

function readSnapshotResponse(buf: Uint8Array): { header: null; remaining_bytes: string; blob: Buffer } | undefined {
  // gRPC hands over Buffers; protobufjs decodes a plain Uint8Array's bytes as a Uint8Array, not a Buffer.
  if (!Buffer.isBuffer(buf)) return undefined;
  let remaining = 0;
  let blob: Buffer | undefined;
  for (let at = 0; at < buf.length; ) {
    const tag = buf[at++];
    const v = readVarint(buf, at);
    if (v === undefined) return undefined;
    at = v.next;
    if (tag === REMAINING_TAG) {
      remaining = v.value;
    } else if (tag === BLOB_TAG) {
      if (at + v.value > buf.length) return undefined;
      blob = buf.subarray(at, at + v.value);
      at += v.value;
    } else {
      return undefined;
    }
  }
  return { header: null, remaining_bytes: String(remaining), blob: blob ?? Buffer.alloc(0) };
}

/** A varint at `at` of at most 7 bytes (below 2^49); undefined for a longer or cut one. */
function readVarint(buf: Buffer, at: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let shift = 0, i = at; i < buf.length && shift < 49; shift += 7, i++) {
    const byte = buf[i]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return { value, next: i + 1 };
  }
  return undefined;
}

/** proto-loader's serializer: an array is refused by name, as there. */
function serializer(type: MessageType & { name?: string }): (arg: unknown) => Uint8Array {
  return (arg) => {
    if (Array.isArray(arg)) throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
    return type.encode(type.fromObject(arg)).finish();
  };
}

/**
 * Getters for `keys`, not enumerable: grpc-js copies a method's definition onto the client's method with
 * Object.assign, which would read them all at the first client made.
 */
function lazily<T extends object>(target: T, keys: readonly string[], get: (key: string) => unknown): T {
  for (const key of keys) Object.defineProperty(target, key, { enumerable: false, configurable: true, get: () => get(key) });
  return target;
}
