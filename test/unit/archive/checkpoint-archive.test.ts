import { execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointArchiveCheck, checkCheckpointArchive, checkpointMismatch } from '../../../src/archive/checkpoint-archive.js';
import { IntegrityError } from '../../../src/core/errors.js';
import { configDump, specDump, writeCheckpointArchive, type ArchiveSpec } from '../../helpers/checkpoint-archive.js';

const dir = mkdtempSync(join(tmpdir(), 'rs-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const spec: ArchiveSpec = { namespace: 'shop', pod: 'web-7d9f', container: 'app' };

async function archive(s: Partial<ArchiveSpec> = {}): Promise<string> {
  const path = join(dir, `a${++n}.tar`);
  await writeCheckpointArchive(path, { ...spec, ...s });
  return path;
}

const failed = (checks: Array<{ name: string; ok: boolean; detail: string }>) => checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);

describe('checkpoint archive checks', () => {
  it("pass on CRI-O's layout and read the container's names and image from the dumps", async () => {
    const path = await archive({ pagesBytes: 300_000 });
    const listing = execFileSync('tar', ['-tf', path]).toString().split('\n');
    expect(listing).toEqual(expect.arrayContaining(['checkpoint/', 'checkpoint/inventory.img', 'checkpoint/pages-1.img', 'config.dump', 'spec.dump', 'rootfs-diff.tar']));
    const { checks, info } = await checkCheckpointArchive(createReadStream(path));
    expect(failed(checks)).toEqual([]);
    expect(checks.map((c) => c.name)).toEqual(['tar', 'checkpoint/', 'config.dump', 'spec.dump', 'names']);
    expect(info).toMatchObject({ namespace: 'shop', pod: 'web-7d9f', container: 'app', containerManager: 'cri-o', runtime: 'runc', rootfsImageName: 'docker.io/library/app:latest', hasRootfsDiff: true, criuFiles: 10 });
    expect(info.containerId).toMatch(/^[0-9a-f]{64}$/);
    expect(checkpointMismatch(info, spec)).toBeUndefined();
    expect(checkpointMismatch(info, { ...spec, container: 'envoy' })).toBe('the archive is a checkpoint of shop/web-7d9f/app, not of shop/web-7d9f/envoy');
  });

  it('pass on the same layout tarred by GNU tar (pax and gnu formats, ./ prefixes), e.g. a Podman export', async () => {
    const src = join(dir, 'staged');
    mkdirSync(join(src, 'checkpoint'), { recursive: true });
    writeFileSync(join(src, 'checkpoint', 'inventory.img'), Buffer.from([0x16, 0x31, 0x31, 0x58]));
    writeFileSync(join(src, 'checkpoint', `pages-${'1'.repeat(120)}.img`), Buffer.alloc(5000, 3));
    writeFileSync(join(src, 'config.dump'), configDump(spec, 'abc'));
    writeFileSync(join(src, 'spec.dump'), specDump(spec));
    for (const format of ['pax', 'gnu']) {
      const bytes = execFileSync('tar', ['-c', `--format=${format}`, '-C', src, '.']);
      const { checks, info } = await checkCheckpointArchive(Readable.from([bytes]));
      expect(failed(checks), format).toEqual([]);
      expect(info.criuFiles).toBe(2);
      expect(info.container).toBe('app');
    }
  });

  it('name what is missing or broken', async () => {
    const cases: Array<[Partial<ArchiveSpec>, RegExp]> = [
      [{ omit: ['config.dump'] }, /^config\.dump: missing$/],
      [{ omit: ['spec.dump'] }, /^spec\.dump: missing$/],
      [{ omit: ['checkpoint/inventory.img'] }, /^checkpoint\/: 9 files, but no checkpoint\/inventory\.img/],
      [{ omit: ['checkpoint/'] }, /^checkpoint\/: missing: the archive holds no CRIU images/],
    ];
    for (const [s, want] of cases) {
      const { checks } = await checkCheckpointArchive(createReadStream(await archive(s)));
      expect(failed(checks), JSON.stringify(s)).toEqual([expect.stringMatching(want)]);
    }
  });

  it('fail a dump that is not JSON, an archive cut short, and names outside the archive', async () => {
    const src = join(dir, 'bad');
    mkdirSync(join(src, 'checkpoint'), { recursive: true });
    writeFileSync(join(src, 'checkpoint', 'inventory.img'), 'x');
    writeFileSync(join(src, 'config.dump'), '{"id": ');
    writeFileSync(join(src, 'spec.dump'), '[1,2]');
    const bytes = execFileSync('tar', ['-c', '-C', src, '--transform', 's,^checkpoint/inventory,../../etc/inventory,', 'checkpoint/inventory.img', 'config.dump', 'spec.dump', '-P']);
    const { checks } = await checkCheckpointArchive(Readable.from([bytes]));
    const bad = failed(checks);
    expect(bad).toContain('config.dump: config.dump is not JSON (Unexpected end of JSON input)');
    expect(bad).toContain('spec.dump: spec.dump is not a JSON object');
    expect(bad).toContainEqual(expect.stringMatching(/^names: entries name paths outside the archive: "\.\.\/\.\.\/etc\/inventory\.img"/));

    const whole = readFileSync(await archive());
    const cut = await checkCheckpointArchive(Readable.from([whole.subarray(0, whole.length - 4096)]));
    expect(failed(cut.checks)).toContainEqual(expect.stringMatching(/^tar: tar archive, byte \d+: .*cut short/));
  });

  it('is a pass-through that ends with an IntegrityError naming the failures (for verify and for backups)', async () => {
    const path = await archive({ omit: ['spec.dump'] });
    const original = readFileSync(path);
    const out: Buffer[] = [];
    const check = new CheckpointArchiveCheck();
    const err = await pipeline(createReadStream(path), check, new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).check).toBe('content');
    expect((err as Error).message).toBe('content: container checkpoint: spec.dump: missing');
    expect(Buffer.concat(out).equals(original)).toBe(true);
  });

  it('refuses a dump larger than its limit instead of holding it', async () => {
    const src = join(dir, 'huge');
    mkdirSync(join(src, 'checkpoint'), { recursive: true });
    writeFileSync(join(src, 'checkpoint', 'inventory.img'), 'x');
    writeFileSync(join(src, 'config.dump'), `{"pad":"${'x'.repeat(1024 * 1024)}"}`);
    writeFileSync(join(src, 'spec.dump'), '{}');
    const { checks } = await checkCheckpointArchive(Readable.from([execFileSync('tar', ['-c', '-C', src, '.'], { maxBuffer: 64 * 1024 * 1024 })]));
    expect(failed(checks)).toEqual([expect.stringMatching(/^config\.dump: config\.dump is 1048586 bytes, more than the 1048576/)]);
  });
});
