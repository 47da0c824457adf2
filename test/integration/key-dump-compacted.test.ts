import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { bucketKeys, listFiles, loadBigValues, portOf, whileRunning } from '../helpers/faults.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const MiB = 1024 * 1024;

/**
 * etcd compacts its history past the revision a key dump is pinned at while the dump pages through it (auto-compaction,
 * kube-apiserver's periodic compaction, an `etcdctl compact`): the rest of the keys at that revision cannot be read.
 * The backup fails, exit 1, with a message naming both revisions and what to do, and leaves nothing in the store:
 * no artifact, manifest or temporary file in a local directory, no object and no multipart upload left open in S3.
 */
describe('key dump past etcd compaction', () => {
  let etcd: TestEtcd;
  let client: Etcd3;
  let proxy: TcpProxy;
  let s3: TestS3;
  let s3proxy: S3Proxy;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-compacted-'));
    [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
    await loadBigValues(etcd.endpoint, 1000, 24 * 1024);
    client = new Etcd3({ hosts: etcd.endpoint });
    // Slow enough that every dump is still paging when etcd compacts.
    proxy = await startTcpProxy(portOf(etcd.endpoint), { rate: 4 * MiB });
    s3proxy = await startS3Proxy(s3.endpoint);
  });
  afterAll(async () => {
    client?.close();
    await proxy?.close();
    await s3proxy?.close();
    await Promise.all([etcd?.stop(), s3?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * Runs a backup, and once it has read 2 MiB from etcd (and `ready` holds) writes one key and compacts etcd up to that
   * key's revision.
   */
  async function compactMidDump(e: Record<string, string>, ready: () => boolean = () => true) {
    const start = proxy.bytesDown;
    const before = Number((await client.maintenance.status()).header.revision);
    const running = runCli(['backup'], { RS_ETCD_ENDPOINTS: `http://${proxy.address}`, RS_COMPRESSION: 'none', RS_HTTP_PORT: '0', ...e });
    await whileRunning(running, () => proxy.bytesDown > start + 2 * MiB && ready(), 'the dump to be paging');
    const compacted = Number((await client.put('/registry/configmaps/default/bump').value(String(Date.now())).exec()).header.revision);
    await client.kv.compact({ revision: String(compacted), physical: true });
    return { res: await running, before, compacted };
  }

  const expectCompactedFailure = ({ res, before, compacted }: Awaited<ReturnType<typeof compactMidDump>>) => {
    // Before: 'reading etcd at revision <R> failed: etcd compacted that revision during the read (auto-compaction); run
    // it again', naming neither how far etcd compacted nor what to do when it recurs.
    const said = new RegExp(
      `reshifter: reading etcd at revision (\\d+) failed after \\S+: etcd compacted its history up to revision ${compacted} meanwhile .*; run it again\\. ` +
        'If it recurs, .*--auto-compaction-retention.*RS_BACKUP_STRATEGY=snapshot.*\\n',
    ).exec(res.stderr);
    expect(said, res.stderr).not.toBeNull();
    // The revision the dump was pinned at: the etcd's when the backup started, before the key written to compact at.
    expect(Number(said![1])).toBeGreaterThanOrEqual(before);
    expect(Number(said![1])).toBeLessThan(compacted);
    expect(res.stderr).not.toMatch(/this is a bug|\n\s+at /);
    expect(res.code, res.stderr).toBe(1);
  };

  it.each([['raw'], ['render'], ['filter:configmaps']])('%s into a local directory: exit 1 naming both revisions, nothing left in the store', async (strategy) => {
    const store = join(dir, strategy.replace(':', '-'));
    const out = await compactMidDump({ RS_BACKUP_DIR: store, RS_BACKUP_STRATEGY: strategy });
    expectCompactedFailure(out);
    expect(await listFiles(store)).toEqual([]);
    expect((await runCli(['list', '--json'], { RS_BACKUP_DIR: store })).stdout).not.toMatch(/"id"/);
  });

  it('raw into S3: exit 1 naming both revisions, no object, the multipart upload aborted', async () => {
    const n = s3proxy.requests.length;
    // Once the upload has sent a part: a multipart upload is open when the dump fails.
    const uploading = () => s3proxy.requests.slice(n).some((r) => r.op === 'UploadPart');
    const out = await compactMidDump({ ...s3.env, RS_S3_ENDPOINT: s3proxy.endpoint, RS_CLUSTER_NAME: 'compacted', RS_BACKUP_STRATEGY: 'raw' }, uploading);
    expectCompactedFailure(out);
    const during = s3proxy.requests.slice(n);
    expect(during.filter((r) => r.op === 'CompleteMultipartUpload' || r.op === 'PutObject')).toHaveLength(0);
    expect(during.filter((r) => r.op === 'AbortMultipartUpload').length).toBeGreaterThanOrEqual(1);
    expect(await bucketKeys(s3)).toEqual([]);
  });
});
