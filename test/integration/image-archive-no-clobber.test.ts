import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/core/errors.js';
import { createLogger } from '../../src/log.js';
import { restoreImageArchive } from '../../src/ops/restore-image.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { runCli } from '../helpers/cli.js';
import { startFakeKubelet, type FakeKubelet } from '../helpers/fake-kubelet.js';
import { whileRunning } from '../helpers/faults.js';
import { StoreThatRaces } from '../helpers/racing-store.js';

/**
 * `restore <checkpoint> --image-archive FILE` checks that FILE does not exist before the download, and writes FILE
 * only after it. Before: the final step renamed the temporary file over FILE, so a file made there in between was
 * replaced without a word; and the temporary file was not known to the exit hook, so a second signal (SIGTERM then
 * SIGINT: exit at once) left `.FILE.<hex>.tmp`, half-written, beside it.
 */
let certs: TestCerts;
let kubelet: FakeKubelet;
let work: string;
let store: string;
let manifest: Manifest;

beforeAll(async () => {
  certs = await makeCerts();
  work = await mkdtemp(join(tmpdir(), 'rs-image-noclobber-'));
  store = join(work, 'store');
  kubelet = await startFakeKubelet({
    certs,
    checkpointDir: join(work, 'node'),
    pods: [{ namespace: 'shop', name: 'web', containers: [{ name: 'app', pagesBytes: 256 * 1024 * 1024 }] }],
  });
  const res = await runCli(['backup', '--json'], {
    RS_BACKUP_DIR: store,
    RS_CLUSTER_NAME: 'prod',
    RS_BACKUP_STRATEGY: 'checkpoint',
    RS_CHECKPOINT_TARGETS: 'shop/web/app',
    RS_KUBELET_URL: kubelet.url,
    RS_KUBELET_CA_CERT: certs.ca,
    RS_KUBELET_CLIENT_CERT: certs.client.cert,
    RS_KUBELET_CLIENT_KEY: certs.client.key,
    RS_CHECKPOINT_DIR: join(work, 'node'),
  });
  expect(res.code, res.stderr).toBe(0);
  const printed = JSON.parse(res.stdout) as Manifest | Manifest[];
  manifest = Array.isArray(printed) ? printed[0]! : printed;
}, 120_000);

afterAll(async () => {
  await kubelet?.close();
  await certs?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});


describe('restore --image-archive leaves nothing half-written and replaces nothing', () => {
  it('refuses a file made at FILE during the download as the check before it does, and leaves that file alone', async () => {
    const out = join(work, 'out');
    await mkdir(out);
    const target = join(out, 'app.oci.tar');
    const loaded = loadConfig({ RS_BACKUP_DIR: store, RS_CLUSTER_NAME: 'prod' });
    if (!loaded.config) throw new Error(loaded.errors.join('; '));
    const ctx = { config: loaded.config, log: createLogger('silent'), signal: new AbortController().signal };
    const racing = new StoreThatRaces(store, manifest.artifact, () => writeFile(target, "the operator's own file"));
    const done = restoreImageArchive(ctx, new BackupRepository(racing, 'prod'), manifest, { path: target });
    await expect(done).rejects.toThrow(ConfigError);
    await expect(done).rejects.toThrow(`--image-archive: ${target} exists already; name a new file (it is never overwritten)`);
    expect(await readFile(target, 'utf8')).toBe("the operator's own file");
    expect(await readdir(out)).toEqual(['app.oci.tar']);
  });

  it('a second signal while the archive is written exits at once and leaves no temporary file', async () => {
    const out = join(work, 'signalled');
    await mkdir(out);
    let child!: ChildProcess;
    const result = runCli(['restore', manifest.id, '--image-archive', join(out, 'app.oci.tar')], { RS_BACKUP_DIR: store, RS_CLUSTER_NAME: 'prod' }, {
      onStart: (c) => (child = c),
    });
    await whileRunning(result, async () => (await readdir(out)).length > 0, 'the image archive to be written');
    // Two different signals: two of the same kind may arrive as one.
    child.kill('SIGTERM');
    child.kill('SIGINT');
    const res = await result;
    expect(res.stderr).toMatch(/second signal: exiting now/);
    expect(res.code).toBe(1);
    expect(await readdir(out)).toEqual([]);
  });
});
