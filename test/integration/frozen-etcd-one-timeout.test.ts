import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

/**
 * A single etcd that never answers (SIGSTOP, a hung VM) is waited for once, RS_ETCD_TIMEOUT from the first request,
 * and the message says so: not the status check's 3 s, then RS_ETCD_TIMEOUT for the version probe, then again for the
 * read (13 s with RS_ETCD_TIMEOUT=5s, each message saying 5 s). Each command that reads or writes etcd.
 */
describe('a frozen etcd is waited for RS_ETCD_TIMEOUT once', () => {
  let etcd: TestEtcd;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-frozen-once-'));
    etcd = await startEtcd();
    const client = new Etcd3({ hosts: etcd.endpoint });
    await client.put('/registry/pods/default/a').value('x');
    client.close();
    env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_ETCD_TIMEOUT: '3s', RS_BACKUP_DIR: join(dir, 'store'), RS_KUBE_PREFIXES: '/registry' };
    const made = await runCli(['backup'], { ...env, RS_BACKUP_STRATEGY: 'snapshot' });
    expect(made.code, made.stderr).toBe(0);
  });
  afterEach(() => {
    etcd.process.kill('SIGCONT');
  });
  afterAll(async () => {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const cases: [string, string[], Record<string, string>][] = [
    ['backup (raw)', ['backup'], { RS_BACKUP_STRATEGY: 'raw' }],
    ['backup (snapshot)', ['backup'], { RS_BACKUP_STRATEGY: 'snapshot' }],
    ['backup (filter)', ['backup'], { RS_BACKUP_STRATEGY: 'filter:pods' }],
    ['backup (auto)', ['backup'], {}],
    ['explore', ['explore'], {}],
    ['stats', ['stats'], {}],
    ['restore --keys', ['restore', 'latest', '--keys'], {}],
  ];
  it.each(cases)('%s: one wait, said as it was', async (_name, args, extra) => {
    etcd.process.kill('SIGSTOP');
    const res = await runCli(args, { ...env, ...extra });
    expect(res.code, res.stderr).toBe(1);
    const said = /asking etcd for its status failed at .*: etcd did not answer within 3(\.\d)? s \(RS_ETCD_TIMEOUT, 3 s, counted from the first request/;
    const last = res.stderr.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(said);
    // A restore says too that it wrote nothing.
    if (args[0] === 'restore') expect(last).toMatch(/^reshifter: restore of backup \S+ failed \(.*\) before writing any key: etcd was not changed$/);
    else expect(last).toMatch(/^reshifter: asking etcd/);
    // No second wait: not the version probe's, not the read's.
    expect(res.stderr).not.toMatch(/GET \/version|reading etcd failed|etcd does not answer: retrying/);
  });

  it('an etcd that answers again within RS_ETCD_TIMEOUT, after the check\'s first 3 s: the backup is taken', async () => {
    etcd.process.kill('SIGSTOP');
    const resume = setTimeout(() => etcd.process.kill('SIGCONT'), 4_000);
    try {
      const res = await runCli(['backup'], { ...env, RS_ETCD_TIMEOUT: '8s', RS_BACKUP_STRATEGY: 'raw' });
      expect(res.code, res.stderr).toBe(0);
    } finally {
      clearTimeout(resume);
    }
  });

  it('RS_ETCD_TIMEOUT longer than the check\'s first ask: still one wait, said as RS_ETCD_TIMEOUT', async () => {
    etcd.process.kill('SIGSTOP');
    const res = await runCli(['backup'], { ...env, RS_ETCD_TIMEOUT: '5s', RS_BACKUP_STRATEGY: 'raw' });
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr.trimEnd().split('\n').at(-1)).toMatch(/^reshifter: asking etcd for its status failed at .*: etcd did not answer within 5(\.\d)? s \(RS_ETCD_TIMEOUT, 5 s/);
    expect(res.stderr).not.toMatch(/GET \/version|reading etcd failed/);
  });
});
