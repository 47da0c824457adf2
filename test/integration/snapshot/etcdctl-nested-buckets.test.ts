import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotStatus } from '../../../src/snapshot/index.js';
import { BoltWriter } from '../../unit/snapshot/bolt-writer.js';
import { encodeKeyValue, revisionKey } from '../../unit/snapshot/etcd-records.js';

/**
 * etcd never writes nested buckets, so whether `etcdctl snapshot status` counts their contents cannot be seen on a
 * real snapshot: these hand-built files settle it against etcdctl itself. (It does not: a nested bucket is one
 * element of its parent, hashed as its key with an empty value.)
 */
const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-snapshot-nested-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function etcdctlStatus(path: string): Promise<unknown> {
  const { stdout } = await run('etcdctl', ['snapshot', 'status', '-w', 'json', path], {
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  return JSON.parse(stdout);
}

/** A key bucket over a branch page, and a members bucket holding a page-based and an inline nested bucket. */
function nestedFile(): Buffer {
  const w = new BoltWriter();
  const put = (main: number) => ({
    key: revisionKey(main),
    value: encodeKeyValue({ key: `/k/${main}`, value: 'v'.repeat(main * 300), createRevision: main, modRevision: main, version: 1 }),
  });
  const left = w.leaf([put(2), put(3), put(4)]);
  const right = w.leaf([put(5), put(6)]);
  const keys = w.branch([{ key: revisionKey(2), pgid: left }, { key: revisionKey(5), pgid: right }]);
  const deep = w.leaf([{ key: 'x', value: 'in a page-based nested bucket' }, { key: 'y', value: '' }]);
  const members = w.leaf([
    { key: 'a-plain', value: 'value' },
    { key: 'b-nested', value: BoltWriter.bucket(deep), bucket: true },
    { key: 'c-inline', value: BoltWriter.inlineBucket([{ key: 'p', value: 'q' }, { key: 'r', value: 's' }]), bucket: true },
  ]);
  w.skip(); // a free page
  const root = w.leaf([
    { key: 'key', value: BoltWriter.bucket(keys), bucket: true },
    { key: 'members', value: BoltWriter.bucket(members), bucket: true },
    { key: 'meta', value: BoltWriter.inlineBucket([{ key: 'consistent_index', value: Buffer.alloc(8, 1) }]), bucket: true },
  ]);
  return w.finish(root);
}

describe('nested buckets, compared with etcdctl snapshot status', () => {
  it('gives the same hash, revision, totalKey and totalSize as etcdctl', async () => {
    const path = join(dir, 'nested.db');
    await writeFile(path, nestedFile());
    const expected = await etcdctlStatus(path);
    expect(expected).toMatchObject({ revision: 6, totalKey: 5 + 3 + 1 });
    expect(await snapshotStatus(path)).toEqual({ ...(expected as object), trailer: 'absent' });
  });
});
