import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointArchiveCheck, checkpointMismatch } from '../../src/archive/checkpoint-archive.js';
import { HashCounter } from '../../src/archive/hash-counter.js';
import { CRIO_CHECKPOINT_ANNOTATION, checkpointAnnotations, goArch, writeOciImageArchive } from '../../src/archive/oci-image.js';
import { containerKey, parseCheckpointTargets, selectCheckpointContainers } from '../../src/core/checkpoint-targets.js';
import { describeError } from '../../src/core/errors.js';
import { openNodeArchive, removeNodeArchive } from '../../src/kubelet/checkpoint-file.js';
import { KubeletClient } from '../../src/kubelet/client.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { startFakeKubelet, type FakeKubelet } from '../helpers/fake-kubelet.js';

/**
 * The building blocks composed the way the checkpoint backup and restore will use them (a sketch of the operation,
 * with a folder standing in for the store): targets resolved through the node's pods, one checkpoint per container,
 * each archive streamed once (hashed, checked) and the node's copy removed, failures named with nothing kept, and a
 * kept archive turned into an image that skopeo reads.
 */
const run = promisify(execFile);
let certs: TestCerts;
let dir: string;
let kubelet: FakeKubelet;
let client: KubeletClient;

beforeAll(async () => {
  certs = await makeCerts();
  dir = mkdtempSync(join(tmpdir(), 'rs-blocks-'));
  kubelet = await startFakeKubelet({
    certs,
    checkpointDir: join(dir, 'node'),
    pods: [
      { namespace: 'shop', name: 'web', containers: [{ name: 'app', pagesBytes: 2_000_000 }, { name: 'envoy' }] },
      { namespace: 'shop', name: 'db-0', containers: [{ name: 'postgres' }] },
      { namespace: 'shop', name: 'cache', containers: [{ name: 'redis' }] },
    ],
    // One container whose runtime refuses, as a node without CRIU answers.
    override: (r) =>
      r.path.startsWith('/checkpoint/shop/cache/redis')
        ? { status: 500, body: 'checkpointing of shop/cache/redis failed (rpc error: code = Unknown desc = checkpoint/restore support not available)' }
        : undefined,
  });
  client = new KubeletClient({ url: kubelet.url, caCertFile: certs.ca, clientCertFile: certs.client.cert, clientKeyFile: certs.client.key, timeoutMs: 10_000 });
});
afterAll(async () => {
  client.close();
  await kubelet.close();
  await certs.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('checkpoint building blocks, composed', () => {
  it('checkpoints three containers of two pods, stores each archive byte for byte, removes the node copies, names the failure', async () => {
    const stored = join(dir, 'store');
    mkdirSync(stored);
    const selection = selectCheckpointContainers(parseCheckpointTargets('shop/web/*, shop/db-0/postgres, shop/cache, shop/ghost/app'), await client.listPods());
    expect(selection.containers.map(containerKey)).toEqual(['shop/cache/redis', 'shop/db-0/postgres', 'shop/web/app', 'shop/web/envoy']);
    expect(selection.unmatched.map((u) => u.why)).toEqual(['no pod shop/ghost on this node']);

    const done: Array<{ key: string; sha256: string; size: number; file: string }> = [];
    const failures: string[] = [];
    for (const c of selection.containers) {
      try {
        const reply = await client.checkpoint(c.namespace, c.pod, c.container, 30);
        const nodeBytes = readFileSync(join(kubelet.options.checkpointDir, reply.fileName));
        const node = await openNodeArchive(kubelet.options.checkpointDir, reply.fileName);
        const hash = new HashCounter();
        const check = new CheckpointArchiveCheck();
        const file = join(stored, `${c.namespace}_${c.pod}_${c.container}.tar`);
        await pipeline(node.stream, hash, check, createWriteStream(file));
        const mismatch = checkpointMismatch(check.info, c);
        if (mismatch) throw new Error(mismatch);
        expect(hash.digest()).toBe(createHash('sha256').update(nodeBytes).digest('hex'));
        await removeNodeArchive(kubelet.options.checkpointDir, reply.fileName);
        done.push({ key: containerKey(c), sha256: hash.digest(), size: hash.bytes, file });
      } catch (err) {
        failures.push(`${containerKey(c)}: ${describeError(err)}`);
      }
    }
    expect(done.map((d) => d.key)).toEqual(['shop/db-0/postgres', 'shop/web/app', 'shop/web/envoy']);
    expect(failures).toEqual([expect.stringContaining('shop/cache/redis: checkpoint of shop/cache/redis failed at https://127.0.0.1:')]);
    expect(failures[0]).toContain('the container runtime cannot checkpoint: CRI-O with CRIU is needed');
    expect(readdirSync(stored)).toHaveLength(3);
    expect(readdirSync(kubelet.options.checkpointDir)).toEqual([]);

    // Restore: the stored archive as an image whose layer is that archive and which carries CRI-O's annotation.
    const app = done.find((d) => d.key === 'shop/web/app')!;
    const image = join(dir, 'app-image.tar');
    await writeOciImageArchive(image, createReadStream(app.file), {
      layerSize: app.size,
      layerDigest: app.sha256,
      container: 'app',
      refName: 'registry.example.com/shop/web-app:ckpt',
      created: new Date(),
      architecture: goArch(),
      annotations: checkpointAnnotations({ namespace: 'shop', pod: 'web', container: 'app' }),
    });
    const manifest = JSON.parse((await run('skopeo', ['--insecure-policy', 'inspect', '--raw', `oci-archive:${image}`])).stdout) as {
      layers: Array<{ digest: string }>;
      annotations: Record<string, string>;
    };
    expect(manifest.layers.map((l) => l.digest)).toEqual([`sha256:${app.sha256}`]);
    expect(manifest.annotations[CRIO_CHECKPOINT_ANNOTATION]).toBe('app');
    expect(existsSync(image)).toBe(true);
  });
});
