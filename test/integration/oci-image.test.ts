import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CRIO_CHECKPOINT_ANNOTATION, checkpointAnnotations, ociImageArchive, refNameProblem, writeOciImageArchive, type OciImageOptions } from '../../src/archive/oci-image.js';
import { IntegrityError, OperationError } from '../../src/core/errors.js';
import { writeCheckpointArchive } from '../helpers/checkpoint-archive.js';

/**
 * The OCI image archive a checkpoint restores through, read by the tools an operator uses: Debian's skopeo (inspect,
 * and copy to a dir: as it would to a registry) and umoci (unpack: the layer's files are the checkpoint's files).
 */
const run = promisify(execFile);
const skopeo = (...args: string[]) => run('skopeo', ['--insecure-policy', ...args], { maxBuffer: 64 * 1024 * 1024 });
const dir = mkdtempSync(join(tmpdir(), 'rs-oci-'));
const checkpoint = join(dir, 'checkpoint-web-7d9f_shop-app-2026-01-02T03:04:05Z.tar');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let bytes: Buffer;
let base: OciImageOptions;

beforeAll(async () => {
  await writeCheckpointArchive(checkpoint, { namespace: 'shop', pod: 'web-7d9f', container: 'app', pagesBytes: 3 * 1024 * 1024 + 17 });
  bytes = readFileSync(checkpoint);
  base = {
    layerSize: bytes.length,
    container: 'app',
    refName: 'localhost/shop/web-7d9f-app:ckpt-1',
    created: new Date('2026-01-02T03:04:05Z'),
    architecture: 'amd64',
    annotations: checkpointAnnotations({ namespace: 'shop', pod: 'web-7d9f', container: 'app', engine: 'cri-o' }),
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('OCI image archive of a checkpoint', () => {
  it('skopeo reads it: one uncompressed layer that is the archive, the CRI-O annotation, the config naming the layer', async () => {
    const file = join(dir, 'image.tar');
    const result = await writeOciImageArchive(file, createReadStream(checkpoint), base);
    expect(result.layerDigest).toBe(sha(bytes));
    expect(result.bytes).toBe(statSync(file).size);

    const manifest = JSON.parse((await skopeo('inspect', '--raw', `oci-archive:${file}`)).stdout) as {
      mediaType: string;
      layers: Array<{ mediaType: string; digest: string; size: number }>;
      annotations: Record<string, string>;
    };
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(manifest.layers).toEqual([{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha(bytes)}`, size: bytes.length }]);
    expect(manifest.annotations[CRIO_CHECKPOINT_ANNOTATION]).toBe('app');
    expect(manifest.annotations['org.criu.checkpoint.pod.namespace']).toBe('shop');
    expect(`sha256:${sha(Buffer.from((await skopeo('inspect', '--raw', `oci-archive:${file}`)).stdout))}`).toBe(`sha256:${result.manifestDigest}`);

    const config = JSON.parse((await skopeo('inspect', '--config', '--raw', `oci-archive:${file}`)).stdout) as Record<string, unknown>;
    expect(config).toMatchObject({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha(bytes)}`] }, created: '2026-01-02T03:04:05.000Z' });

    // The name given with --image-name selects the image, as `skopeo copy oci-archive:FILE:NAME` does.
    const named = JSON.parse((await skopeo('inspect', `oci-archive:${file}:localhost/shop/web-7d9f-app:ckpt-1`)).stdout) as { Digest: string };
    expect(named.Digest).toBe(`sha256:${result.manifestDigest}`);
  });

  it('skopeo copies it as a registry push would, and the layer it sends is the archive, byte for byte', async () => {
    const file = join(dir, 'copy.tar');
    await writeOciImageArchive(file, createReadStream(checkpoint), base);
    const out = join(dir, 'copied');
    await skopeo('copy', `oci-archive:${file}`, `dir:${out}`);
    const layer = readFileSync(join(out, sha(bytes)));
    expect(layer.equals(bytes)).toBe(true);
    const copied = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { annotations: Record<string, string> };
    expect(copied.annotations[CRIO_CHECKPOINT_ANNOTATION]).toBe('app');
  });

  it("umoci unpacks it: the image's files are the checkpoint's files", async () => {
    const file = join(dir, 'umoci.tar');
    await writeOciImageArchive(file, createReadStream(checkpoint), base);
    const layout = join(dir, 'layout');
    mkdirSync(layout);
    await run('tar', ['-xf', file, '-C', layout]);
    const stat = (await run('umoci', ['stat', '--json', '--image', `${layout}:localhost/shop/web-7d9f-app:ckpt-1`])).stdout;
    expect(JSON.parse(stat)).toHaveProperty('history');
    const bundle = join(dir, 'bundle');
    await run('umoci', ['unpack', '--rootless', '--image', `${layout}:localhost/shop/web-7d9f-app:ckpt-1`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    expect(readdirSync(rootfs).sort()).toEqual(expect.arrayContaining(['checkpoint', 'config.dump', 'spec.dump', 'rootfs-diff.tar']));
    const extracted = join(dir, 'extracted');
    mkdirSync(extracted);
    await run('tar', ['-xf', checkpoint, '-C', extracted]);
    for (const name of ['config.dump', 'spec.dump', 'checkpoint/pages-1.img', 'checkpoint/inventory.img', 'rootfs-diff.tar']) {
      expect(readFileSync(join(rootfs, name)).equals(readFileSync(join(extracted, name))), name).toBe(true);
    }
  });

  it('gives the same bytes streamed with a known digest as written to a file without one', async () => {
    const streamed = join(dir, 'streamed.tar');
    await pipeline(ociImageArchive(createReadStream(checkpoint), { ...base, layerDigest: sha(bytes) }), createWriteStream(streamed));
    const patched = join(dir, 'patched.tar');
    await writeOciImageArchive(patched, createReadStream(checkpoint), base);
    expect(readFileSync(streamed).equals(readFileSync(patched))).toBe(true);
  });

  it('carries a layer size in a pax header when ustar cannot (forced here on a small layer), and skopeo reads it', async () => {
    const file = join(dir, 'pax.tar');
    await writeOciImageArchive(file, createReadStream(checkpoint), { ...base, paxAbove: 1024 });
    const out = join(dir, 'pax-copied');
    await skopeo('copy', `oci-archive:${file}`, `dir:${out}`);
    expect(readFileSync(join(out, sha(bytes))).equals(bytes)).toBe(true);
  });

  it('fails, leaving no file, when the archive is not the bytes promised (digest, or size)', async () => {
    const wrong = join(dir, 'wrong.tar');
    const bad = await writeOciImageArchive(wrong, createReadStream(checkpoint), { ...base, layerDigest: '0'.repeat(64) }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(IntegrityError);
    expect((bad as Error).message).toMatch(/^layer: the checkpoint archive hashes to [0-9a-f]{64}, the backup says 0{64}$/);
    const short = await writeOciImageArchive(wrong, createReadStream(checkpoint), { ...base, layerSize: bytes.length + 1 }).catch((e: unknown) => e);
    expect((short as Error).message).toMatch(/ended after \d+ of \d+ bytes: cut short/);
    const long = await writeOciImageArchive(wrong, createReadStream(checkpoint), { ...base, layerSize: bytes.length - 1 }).catch((e: unknown) => e);
    expect((long as Error).message).toMatch(/longer than the \d+ bytes expected/);
    expect(existsSync(wrong)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const streamed = await pipeline(ociImageArchive(createReadStream(checkpoint), { ...base, layerDigest: 'f'.repeat(64) }), createWriteStream(join(dir, 's.tar'))).catch((e: unknown) => e);
    expect(streamed).toBeInstanceOf(IntegrityError);
  });

  // Before: the bare "ENOENT: no such file or directory, open '.../gone/.x.tar.<hex>.tmp'", which the CLI said as an
  // unexpected error (a bug), naming the temporary file rather than the one asked for.
  it('fails naming the file when it cannot be written (its folder gone since it was checked)', async () => {
    const file = join(dir, 'gone', 'x.tar');
    const err = await writeOciImageArchive(file, createReadStream(checkpoint), base).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect((err as Error).message).toMatch(new RegExp(`^writing ${file}: .*no such file`, 'i'));
  });

  it('refuses image names that are not references', () => {
    expect(refNameProblem('registry.example.com/shop/web:ckpt-1')).toBeUndefined();
    expect(refNameProblem('localhost:5000/a/b@x')).toBeUndefined();
    for (const bad of ['', 'Has Space', '/lead', 'trail/', 'a//b', '-x', 'x'.repeat(256)]) expect(refNameProblem(bad), bad).toBeDefined();
  });
});
