import { describe, expect, it } from 'vitest';
import { diffKeys, OTHER_RESOURCE, sharedPrefixes, type DiffEntry } from '../../../src/core/diff.js';

const kv = (key: string, value: string, modRevision?: number): DiffEntry => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
  ...(modRevision !== undefined && { modRevision }),
});

/** Sorts like etcd: by key bytes. */
const sortedEntries = (entries: DiffEntry[]) => [...entries].sort((a, b) => Buffer.compare(a.key, b.key));

async function* slowly(entries: DiffEntry[]): AsyncGenerator<DiffEntry> {
  for (const e of entries) {
    await new Promise((r) => setImmediate(r));
    yield e;
  }
}

describe('diffKeys', () => {
  const before = sortedEntries([
    kv('/registry/namespaces/default', 'ns-default'),
    kv('/registry/deployments/default/web', 'web-v1', 10),
    kv('/registry/deployments/default/api', 'api-v1', 11),
    kv('/registry/configmaps/kube-system/coredns', 'cm', 12),
    kv('/registry/secrets/prod/db', 'secret-v1'),
    kv('/registry/nodes/node-1', 'node'),
    kv('/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com', 'crd'),
    kv('/registry/masterleases/10.0.0.1', 'lease-1'),
    kv('compact_rev_key', 'rev-1'),
    kv('/unrelated/key', 'x'),
  ]);
  const after = sortedEntries([
    kv('/registry/namespaces/default', 'ns-default'),
    kv('/registry/deployments/default/web', 'web-v2', 20),
    kv('/registry/deployments/default/worker', 'worker-v1'),
    kv('/registry/configmaps/kube-system/coredns', 'cm', 99), // same value, new revision: unchanged
    kv('/registry/secrets/prod/db', 'secret-v2'),
    kv('/registry/nodes/node-1', 'node'),
    kv('/registry/nodes/node-2', 'node'),
    kv('/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com', 'crd-v2'),
    kv('/registry/masterleases/10.0.0.1', 'lease-2'),
    kv('compact_rev_key', 'rev-2'),
    kv('/unrelated/key', 'y'),
  ]);

  it('stops on its signal (SIGTERM) within a few hundred keys, rather than comparing to the end', async () => {
    // Before, a diff of two big backups read in place (a local store) went on to the end after SIGTERM, and exited 0.
    const controller = new AbortController();
    let read = 0;
    function* many(tag: string): Generator<DiffEntry> {
      for (let i = 0; i < 100_000; i++) {
        if (++read === 1000) controller.abort(new Error('received SIGTERM'));
        yield kv(`/registry/configmaps/default/cm-${String(i).padStart(6, '0')}`, tag);
      }
    }
    await expect(diffKeys(many('a'), many('b'), { signal: controller.signal })).rejects.toThrow(/^the comparison stopped: received SIGTERM$/);
    expect(read).toBeLessThan(2000);
  });

  it('counts added, removed and changed keys per resource and namespace', async () => {
    const d = await diffKeys(before, after);
    expect(d.summary).toEqual({ added: 2, removed: 1, changed: 4, unchanged: 3, ignored: 2, outside: 0 });
    expect(d.groups).toEqual([
      { resource: OTHER_RESOURCE, added: 0, removed: 0, changed: 1 },
      { resource: 'customresourcedefinitions.apiextensions.k8s.io', added: 0, removed: 0, changed: 1 },
      { resource: 'deployments', namespace: 'default', added: 1, removed: 1, changed: 1 },
      { resource: 'nodes', added: 1, removed: 0, changed: 0 },
      { resource: 'secrets', namespace: 'prod', added: 0, removed: 0, changed: 1 },
    ]);
    expect(d.truncated).toBe(false);
  });

  it('lists the differing objects in key order, with their names', async () => {
    const d = await diffKeys(before, after);
    expect(d.objects.map((o) => `${o.change} ${o.key}`)).toEqual([
      'changed /registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com',
      'removed /registry/deployments/default/api',
      'changed /registry/deployments/default/web',
      'added /registry/deployments/default/worker',
      'added /registry/nodes/node-2',
      'changed /registry/secrets/prod/db',
      'changed /unrelated/key',
    ]);
    expect(d.objects[1]).toEqual({ change: 'removed', key: '/registry/deployments/default/api', resource: 'deployments', namespace: 'default', name: 'api' });
    expect(d.objects[4]).toEqual({ change: 'added', key: '/registry/nodes/node-2', resource: 'nodes', name: 'node-2' });
  });

  it('finds nothing between identical backups, whatever their revisions', async () => {
    const d = await diffKeys(before, before.map((e) => ({ ...e, modRevision: 1000 })));
    expect(d.summary).toMatchObject({ added: 0, removed: 0, changed: 0, unchanged: 8, ignored: 2 });
    expect(d.groups).toEqual([]);
    expect(d.objects).toEqual([]);
  });

  it('treats everything as added from an empty backup, and removed to one', async () => {
    const added = await diffKeys([], after);
    expect(added.summary.added).toBe(9);
    expect(added.summary.removed).toBe(0);
    const removed = await diffKeys(slowly(before), slowly([]));
    expect(removed.summary.removed).toBe(8);
    expect(removed.summary.added).toBe(0);
  });

  it('compares key bytes, not text: binary keys and byte order', async () => {
    const a = [{ key: Buffer.from([0x2f, 0xff]), value: Buffer.from('1') }];
    const b = [{ key: Buffer.from([0x2f, 0x7f]), value: Buffer.from('1') }, { key: Buffer.from([0x2f, 0xff]), value: Buffer.from('2') }];
    const d = await diffKeys(slowly(a), slowly(b));
    expect(d.summary).toMatchObject({ added: 1, changed: 1, removed: 0 });
  });

  it('caps the object list but keeps the counts exact', async () => {
    const many = Array.from({ length: 50 }, (_, i) => kv(`/registry/pods/ns/p${String(i).padStart(3, '0')}`, 'v'));
    const d = await diffKeys([], many, { limit: 10 });
    expect(d.objects).toHaveLength(10);
    expect(d.truncated).toBe(true);
    expect(d.summary.added).toBe(50);
    expect(d.groups).toEqual([{ resource: 'pods', namespace: 'ns', added: 50, removed: 0, changed: 0 }]);
  });

  it('with a scope, compares only the keys under it and counts the rest as outside, never as differences', async () => {
    // A raw dump of /registry against a snapshot that also holds another application's keys and apiserver bookkeeping.
    const dump = before.filter((e) => e.key.toString().startsWith('/registry/'));
    const d = await diffKeys(dump, after, { scope: ['/registry'] });
    expect(d.summary).toEqual({ added: 2, removed: 1, changed: 3, unchanged: 3, ignored: 1, outside: 2 });
    expect(d.groups.map((g) => g.resource)).not.toContain(OTHER_RESOURCE);
    expect(d.objects.map((o) => o.key)).not.toContain('/unrelated/key');
    // `/registry` holds `/registry/...` only: `/registryfoo/x` is outside it.
    const edge = await diffKeys([kv('/registry/pods/ns/p', 'v')], [kv('/registry/pods/ns/p', 'v'), kv('/registryfoo/x', 'v')], { scope: ['/registry/'] });
    expect(edge.summary).toMatchObject({ added: 0, unchanged: 1, outside: 1 });
  });

  it('sharedPrefixes: the prefixes both backups hold, none when both hold every key', () => {
    expect(sharedPrefixes(undefined, undefined)).toBeUndefined();
    expect(sharedPrefixes(undefined, ['/registry', '/openshift.io'])).toEqual(['/registry', '/openshift.io']);
    expect(sharedPrefixes(['/registry/'], ['/'])).toEqual(['/registry']);
    expect(sharedPrefixes(['/'], ['/'])).toBeUndefined();
    expect(sharedPrefixes(['/registry', '/kubernetes.io'], ['/registry/configmaps', '/openshift.io'])).toEqual(['/registry/configmaps']);
    expect(sharedPrefixes(['/registry'], ['/openshift.io'])).toEqual([]);
  });

  it('uses the given prefixes to recognise objects', async () => {
    const d = await diffKeys([], [kv('/custom/pods/ns/p', 'v')], { prefixes: ['/custom'] });
    expect(d.groups).toEqual([{ resource: 'pods', namespace: 'ns', added: 1, removed: 0, changed: 0 }]);
  });

  it('fails on a source out of key order instead of giving a wrong answer, and closes both sources', async () => {
    let closed = 0;
    async function* tracked(entries: DiffEntry[]) {
      try {
        yield* entries;
      } finally {
        closed++;
      }
    }
    const unsorted = [kv('/registry/pods/a/b', '1'), kv('/registry/pods/a/a', '1')];
    await expect(diffKeys(tracked(before), tracked(unsorted))).rejects.toThrow(/"to" keys are not in key order/);
    expect(closed).toBe(2);
    await expect(diffKeys([kv('/a', '1'), kv('/a', '2')], [])).rejects.toThrow(/"from" keys are not in key order/);
  });
});
