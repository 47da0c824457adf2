import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { bucketKeys } from '../helpers/faults.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * A bucket that may not delete (a bucket policy that denies s3:DeleteObject, as an operator sets for backups that
 * must stay), with retention rules left set: every backup is stored, and its retention is refused. Before, `backup`
 * exited 1 printing no id (a script's `ID=$(reshifter backup)` got nothing for a stored backup) and its message was
 * only the refused delete, read as a failed backup. Now it prints the stored backup as always, says it is stored and
 * that its retention failed, with what to do on such a bucket; it asks once per run (no retry of a refusal), deletes
 * nothing, and the next run works the same.
 */
let etcd: TestEtcd;
let s3: TestS3;
let proxy: S3Proxy;

beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  await etcd.ctl(['put', '/registry/configmaps/default/a', 'x']);
  proxy = await startS3Proxy(s3.endpoint);
  proxy.fault = ({ op }) => (op === 'DeleteObject' ? { status: 403, code: 'AccessDenied' } : undefined);
});
afterAll(async () => {
  await proxy?.close();
  await Promise.all([etcd?.stop(), s3?.stop()]);
});

it('backup prints the stored backup, exits 1 saying its retention was refused and what to do, deletes nothing; the next run alike', async () => {
  const env = { ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_S3_RETRY_WINDOW: '2s' };
  expect((await runCli(['backup'], env)).code).toBe(0);
  for (const json of [false, true]) {
    const before = await bucketKeys(s3);
    const n = proxy.ops('DeleteObject').length;
    const res = await runCli(['backup', ...(json ? ['--json'] : [])], { ...env, RS_RETENTION_KEEP_LAST: '1' });
    expect(res.code).toBe(1);
    const id = json ? (JSON.parse(res.stdout) as { id: string }).id : res.stdout.split('\t')[0]!;
    expect(res.stdout).toMatch(json ? /^\{.*\}\n$/ : new RegExp(String.raw`^${id}\t${id}\.snapshot\.db\.zst\t\d+ bytes\n$`));
    expect(res.stderr).toContain(`reshifter: backup ${id} is stored, but the retention after it failed: deleting s3://backups/default/`);
    expect(res.stderr).toMatch(/access denied \(AccessDenied\).*; where the store may not delete \(a bucket policy that denies s3:DeleteObject\), .*leave RS_RETENTION_\* unset/);
    // A refusal is not retried, and nothing was deleted: the new backup is there beside every earlier one.
    expect(proxy.ops('DeleteObject').length - n).toBe(1);
    expect(await bucketKeys(s3)).toEqual([...before, `default/${id}.manifest.json`, `default/${id}.snapshot.db.zst`].sort());
    expect((await runCli(['verify', id], env)).code).toBe(0);
  }
});
