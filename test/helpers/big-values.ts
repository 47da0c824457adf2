import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { Etcd3 } from 'etcd3';
import { decoders } from '../../src/archive/codec.js';
import { readKeyDump } from '../../src/archive/key-dump-reader.js';

/** etcd's default --max-request-bytes: one put of a value and its key must stay under it. */
const REQUEST_LIMIT = 1.5 * 1024 * 1024;

/** A Kubernetes object as the apiserver stores it in JSON, padded with base64 of random bytes to about `size` bytes. */
function objectOf(kind: string, name: string, namespace: string, labels: Record<string, string>, payloadField: string, size: number): Buffer {
  const shell = (payload: string) =>
    JSON.stringify({
      kind,
      apiVersion: 'v1',
      metadata: { name, namespace, uid: randomUUID(), resourceVersion: '1', creationTimestamp: '2026-11-01T10:00:00Z', labels },
      ...(kind === 'Secret' && { type: 'helm.sh/release.v1' }),
      data: { [payloadField]: payload },
    });
  const room = Math.max(0, size - shell('').length);
  // base64 of random bytes: gzip gets it down to ~75%, as it does a Helm release (base64 of gzipped JSON).
  return Buffer.from(shell(randomBytes(Math.ceil((room * 3) / 4)).toString('base64').slice(0, room)));
}

/**
 * Helm v3 keeps every release as a Secret of up to ~1 MB: `releases` of them (`releaseBytes` each) under
 * /registry/secrets/default/sh.helm.release.v1.app.vN, and `configMaps` ConfigMaps of `configMapBytes` under
 * /registry/configmaps/default/cm-NNNN. Written in parallel transactions of at most etcd's request limit.
 */
export async function loadHelmLikeValues(
  endpoint: string,
  opts: { releases: number; releaseBytes: number; configMaps: number; configMapBytes: number },
): Promise<{ keys: number; bytes: number }> {
  const items: Array<() => { key: string; value: Buffer }> = [];
  for (let i = 1; i <= opts.releases; i++) {
    const name = `sh.helm.release.v1.app.v${i}`;
    items.push(() => ({
      key: `/registry/secrets/default/${name}`,
      value: objectOf('Secret', name, 'default', { name: 'app', owner: 'helm', status: i === opts.releases ? 'deployed' : 'superseded', version: String(i) }, 'release', opts.releaseBytes),
    }));
  }
  for (let i = 0; i < opts.configMaps; i++) {
    const name = `cm-${String(i).padStart(4, '0')}`;
    items.push(() => ({ key: `/registry/configmaps/default/${name}`, value: objectOf('ConfigMap', name, 'default', { app: 'big' }, 'config.json', opts.configMapBytes) }));
  }
  const client = new Etcd3({ hosts: endpoint });
  let next = 0;
  let bytes = 0;
  try {
    // Each worker sends transactions of consecutive items up to the request limit; eight workers keep etcd busy.
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < items.length) {
          const batch: Array<{ key: string; value: Buffer }> = [];
          let size = 0;
          while (next < items.length) {
            const item = items[next]!();
            if (batch.length > 0 && size + item.value.length + item.key.length > REQUEST_LIMIT - 64 * 1024) break;
            next++;
            batch.push(item);
            size += item.value.length + item.key.length;
          }
          bytes += size;
          await client.kv.txn({ compare: [], success: batch.map((b) => ({ request_put: { key: Buffer.from(b.key), value: b.value } })), failure: [] });
        }
      }),
    );
  } finally {
    client.close();
  }
  return { keys: items.length, bytes };
}

/** key (latin1) -> sha256 of its value, for comparing keyspaces byte for byte. */
export type ValueDigests = Map<string, string>;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Every key under `prefix` with the sha256 of its value, read in pages of at most 32 keys (32 MB at ~1 MB a value:
 * the reads of the test must not hit the very limit the code under test is about).
 */
export async function etcdDigests(endpoint: string, prefix = '/registry/'): Promise<ValueDigests> {
  const client = new Etcd3({ hosts: endpoint, grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 } });
  const out: ValueDigests = new Map();
  const end = Buffer.from(prefix);
  end[end.length - 1]! += 1;
  try {
    let from = Buffer.from(prefix);
    for (;;) {
      const res = await client.kv.range({ key: from, range_end: end, limit: 32 });
      for (const kv of res.kvs) out.set(kv.key.toString('latin1'), sha256(kv.value));
      if (!res.more || res.kvs.length === 0) return out;
      from = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  } finally {
    client.close();
  }
}

/** The same for a key dump file (`.tar`, `.tar.gz` or `.tar.zst`); also its header revision and a digest of every record. */
export async function dumpDigests(file: string): Promise<{ revision: number; values: ValueDigests; records: string }> {
  const values: ValueDigests = new Map();
  const records = createHash('sha256');
  let revision = -1;
  const compression = file.endsWith('.gz') ? 'gzip' : file.endsWith('.zst') ? 'zstd' : 'none';
  const steps = decoders({ compression, encryption: 'none' });
  const stream = steps.reduce<Readable>((from, step) => from.pipe(step), createReadStream(file));
  for await (const item of readKeyDump(stream)) {
    if (item.type === 'header') {
      revision = item.header.revision;
      continue;
    }
    const r = item.record;
    values.set(r.key.toString('latin1'), sha256(r.value));
    records.update(JSON.stringify([r.key.toString('base64'), sha256(r.value), r.createRevision, r.modRevision, r.version, r.lease ?? null])).update('\n');
  }
  return { revision, values, records: records.digest('hex') };
}
