/** A key as `etcdctl get -w json` prints it, decoded. */
export interface CtlKeyValue {
  key: Buffer;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: bigint;
}

interface RawKv {
  key: string;
  value?: string;
  create_revision?: string | number;
  mod_revision?: string | number;
  version?: string | number;
  lease?: string | number;
}

/**
 * Parses `etcdctl get -w json`. Lease and cluster ids exceed 2^53, so long integers are quoted before JSON.parse
 * (base64 keys and values never contain ':'); proto3 JSON leaves out zero fields, so they default to 0 / empty.
 */
export function parseGetJson(text: string): { revision: number; kvs: CtlKeyValue[] } {
  const doc = JSON.parse(text.replace(/:(\d{16,})/g, ':"$1"')) as { header: { revision: string | number }; kvs?: RawKv[] };
  return {
    revision: Number(doc.header.revision),
    kvs: (doc.kvs ?? []).map((kv) => ({
      key: Buffer.from(kv.key, 'base64'),
      value: Buffer.from(kv.value ?? '', 'base64'),
      createRevision: Number(kv.create_revision ?? 0),
      modRevision: Number(kv.mod_revision ?? 0),
      version: Number(kv.version ?? 0),
      lease: BigInt(kv.lease ?? 0),
    })),
  };
}

/** A key in a form `expect().toEqual` compares and prints well. */
export function comparable(kv: CtlKeyValue): Record<string, string | number> {
  return {
    key: kv.key.toString('base64'),
    value: kv.value.toString('base64'),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease.toString(),
  };
}
