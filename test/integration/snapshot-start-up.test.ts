import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const MAIN = join(ROOT, 'dist/main.js');
const FLAGS = (await readFile(MAIN, 'utf8')).split('\n')[0]!.split(/\s+/).slice(3);

// Records every module the process loads (ES and CommonJS), through Node's own module hooks.
const HOOK = `
import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const seen = [];
registerHooks({ load(url, context, next) { seen.push(url); return next(url, context); } });
process.on('exit', () => writeFileSync(process.env.MODULE_LIST_OUT, seen.join('\\n')));
`;

let etcd: TestEtcd;
let work: string;
beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-start-up-'));
  await writeFile(join(work, 'hook.mjs'), HOOK);
});
afterAll(async () => {
  await Promise.all([etcd?.stop(), work && rm(work, { recursive: true, force: true })]);
});

/** `backup` (the launcher's flags, default settings) to a local store; the modules it loaded. */
async function backupModules(): Promise<{ code: number | null; stderr: string; modules: string[] }> {
  const out = join(work, 'modules.txt');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'backups'), MODULE_LIST_OUT: out };
  const child = spawn(process.execPath, [...FLAGS, '--import', join(work, 'hook.mjs'), MAIN, 'backup'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stderr, modules: (await readFile(out, 'utf8')).split('\n') };
}

/**
 * A snapshot backup to a local folder is the most common command, and its start-up is most of what it takes beyond
 * `etcdctl snapshot save` (issue #16). It must not load what it never uses: etcd3's .proto parsing (the build's
 * descriptor answers it, src/etcd/etcd3-proto.ts), the S3 SDK, age, prom-client, the API server, the code of key dumps,
 * listings and checkpoints, the Kubernetes decoders.
 */
describe('start-up of a snapshot backup to a local store', () => {
  it('takes the backup without parsing .proto files, and without the modules only other settings need', async () => {
    const r = await backupModules();
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(join(work, 'backups/default'))).filter((f) => f.endsWith('.snapshot.db.zst'))).toHaveLength(1);
    const loaded = (part: string) => r.modules.filter((m) => m.includes(part));
    expect(loaded('/node_modules/etcd3/').length).toBeGreaterThan(0);
    expect(loaded('/node_modules/@grpc/grpc-js/').length).toBeGreaterThan(0);
    for (const unused of [
      '/node_modules/@grpc/proto-loader/',
      '/node_modules/protobufjs/src/parse.js',
      '/node_modules/protobufjs/ext/descriptor/',
      '/node_modules/@aws-sdk/',
      '/node_modules/age-encryption/',
      '/node_modules/prom-client/',
      '/node_modules/yauzl/',
      '/node_modules/node-cron/',
      '/dist/server/',
      '/dist/store/s3-store.js',
      '/dist/etcd/key-dump-source.js',
      '/dist/etcd/render-source.js',
      '/dist/kube/audit-row.js',
      '/dist/kube/envelope.js',
      '/dist/ops/checkpoint-backup.js',
      '/dist/kubelet/',
    ]) {
      expect(loaded(unused), unused).toEqual([]);
    }
  });
});
