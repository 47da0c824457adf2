import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decoders } from '../../../src/archive/codec.js';
import { readDeltaSegment } from '../../../src/archive/delta-segment-reader.js';
import { isDeltaManifest, parseManifest } from '../../../src/archive/manifest.js';
import { loadConfig } from '../../../src/config/load-config.js';
import type { DeltaEvent } from '../../../src/core/delta-event.js';
import { createLogger } from '../../../src/log.js';
import { encryptionKeys } from '../../../src/ops/encryption-keys.js';
import { openRepository } from '../../../src/ops/repository.js';
import { storeSegment } from '../../../src/ops/store-segment.js';
import { verifyBackup } from '../../../src/ops/verify.js';
import { BackupRepository } from '../../../src/store/backup-repository.js';
import { LocalStore } from '../../../src/store/local-store.js';
import { startS3, type TestS3 } from '../../helpers/s3.js';
import { startS3Proxy, type S3Proxy } from '../../helpers/s3-proxy.js';

const BASE = '20261204T100000.000Z-abcdef';

function put(rev: number, key: string, value: string, at: number): DeltaEvent {
  return { type: 'put', key: Buffer.from(key), value: Buffer.from(value), createRevision: rev, modRevision: rev, version: 1, observedAt: at };
}

/** One segment stored as every artifact is (codec, then manifest last), and read back whole. */
describe('storeSegment', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-segment-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // age to an X25519 recipient (a passphrase's scrypt costs seconds).
  const identity = execFileSync('age-keygen', { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const recipient = /public key: (age1\w+)/.exec(identity)![1]!;
  const secretKey = /AGE-SECRET-KEY-\w+/.exec(identity)![0];
  for (const env of [{ RS_COMPRESSION: 'zstd' }, { RS_COMPRESSION: 'gzip', RS_ENCRYPTION_RECIPIENTS: recipient, RS_ENCRYPTION_IDENTITY: secretKey }]) {
    it(`writes the artifact, then a manifest with the delta fields (${JSON.stringify(env)})`, async () => {
      const store = join(dir, env.RS_COMPRESSION);
      const loaded = loadConfig({ RS_BACKUP_DIR: store, RS_CLUSTER_NAME: 'c1', ...env });
      if (!loaded.config) throw new Error(loaded.errors.join('; '));
      const ctx = { config: loaded.config, log: createLogger('silent'), signal: new AbortController().signal };
      const repo = new BackupRepository(new LocalStore(store), 'c1');
      const keys = await encryptionKeys(loaded.config);
      const t0 = Date.parse('2026-12-04T10:00:01.000Z');
      const events: DeltaEvent[] = [
        put(101, '/registry/a', 'one', t0),
        { type: 'delete', key: Buffer.from('/registry/b'), value: Buffer.alloc(0), createRevision: 0, modRevision: 102, version: 0, observedAt: t0 + 5 },
        put(104, '/registry/a', 'two', t0 + 900),
      ];
      const m = await storeSegment(ctx, repo, keys, { base: BASE, baseRevision: 100, etcdVersion: '3.4.23' }, { fromRevision: 101, toRevision: 105, events, bytes: 0, reason: 'interval' });
      expect(m).toMatchObject({
        strategy: 'delta', contentType: 'delta-events', base: BASE, fromRevision: 101, toRevision: 105, events: 3,
        firstEventAt: '2026-12-04T10:00:01.000Z', lastEventAt: '2026-12-04T10:00:01.900Z', etcd: { revision: 105 },
      });
      expect(m.artifact).toMatch('RS_ENCRYPTION_RECIPIENTS' in env ? /\.delta\.tar\.gz\.age$/ : /\.delta\.tar\.zst$/);
      const files = await readdir(join(store, 'c1'));
      expect(files.sort()).toEqual([m.artifact, `${m.id}.manifest.json`].sort());
      const stored = parseManifest(await readFile(join(store, 'c1', `${m.id}.manifest.json`)), 'manifest');
      expect(isDeltaManifest(stored)).toBe(true);
      expect(stored).toEqual(m);
      const listed = (await repo.list()).backups;
      expect(listed.map((b) => b.id)).toEqual([m.id]);

      const readKeys = await encryptionKeys(loaded.config, { forReading: true });
      let s: Readable = await repo.openArtifact(m);
      for (const d of decoders(m, readKeys)) s = s.pipe(d);
      const got: DeltaEvent[] = [];
      for await (const item of readDeltaSegment(s, { base: BASE, fromRevision: 101, toRevision: 105, events: 3 })) if (item.type === 'event') got.push(item.event);
      expect(got.map((e) => [e.type, e.key.toString(), e.value.toString(), e.modRevision, e.observedAt])).toEqual(events.map((e) => [e.type, e.key.toString(), e.value.toString(), e.modRevision, e.observedAt]));

      const verified = await verifyBackup(ctx, repo, m);
      expect(verified.checks.filter((c) => !c.ok)).toEqual([]);
      expect(verified.checks.map((c) => c.name)).toContain('content');
    });
  }

  it('refuses a manifest whose delta fields are no range', () => {
    const bad = { format: 1, id: '20261204T100001.000Z-aaaaaa', cluster: 'c1', strategy: 'delta', createdAt: '2026-12-04T10:00:01.000Z',
      artifact: '20261204T100001.000Z-aaaaaa.delta.tar.zst', contentType: 'delta-events', compression: 'zstd', encryption: 'none',
      sha256: '0'.repeat(64), sizeBytes: 1, rawSizeBytes: 1, etcd: { version: '3.4.23', revision: 5, apiVersion: 'v3' },
      tool: { name: 'reshifter', version: '0' }, base: BASE, fromRevision: 9, toRevision: 5, events: 0 };
    expect(() => parseManifest(JSON.stringify(bad), 'm')).toThrow(/revisions 9\.\.5 are no range/);
    expect(() => parseManifest(JSON.stringify({ ...bad, base: 'x', fromRevision: 1 }), 'm')).toThrow(/"base"/);
  });
});

/**
 * A segment exists by its manifest, written last: an artifact that could not be stored must get no manifest (a segment
 * that restores nothing, breaking its chain), and an artifact whose manifest could not be written is deleted again.
 */
describe('storeSegment against a store that refuses one of its two writes', () => {
  let s3: TestS3;
  let proxy: S3Proxy;
  beforeAll(async () => {
    s3 = await startS3();
    proxy = await startS3Proxy(s3.endpoint);
  });
  afterAll(async () => {
    await proxy?.close();
    await s3?.stop();
  });

  const objects = async (): Promise<string[]> => {
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    try {
      return ((await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }))).Contents ?? []).map((o) => o.Key!);
    } finally {
      client.destroy();
    }
  };

  for (const [what, refused, left] of [
    ['the artifact', (url: string) => url.includes('.delta.'), 'no manifest'],
    ['the manifest', (url: string) => url.includes('.manifest.json'), 'no artifact'],
  ] as const) {
    it(`${what} refused: it fails, and the store holds ${left} of it`, async () => {
      const loaded = loadConfig({ ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_CLUSTER_NAME: 'c1' });
      if (!loaded.config) throw new Error(loaded.errors.join('; '));
      const ctx = { config: loaded.config, log: createLogger('silent') };
      const repo = openRepository(loaded.config);
      const before = await objects();
      proxy.fault = (r) => ((r.method === 'PUT' || r.method === 'POST') && refused(r.url) ? { status: 403, code: 'AccessDenied' } : undefined);
      try {
        const events = [put(101, '/registry/a', 'one', Date.now())];
        await expect(storeSegment(ctx, repo, {}, { base: BASE, baseRevision: 100, etcdVersion: '3.4.23' }, { fromRevision: 101, toRevision: 101, events, bytes: 0, reason: 'interval' })).rejects.toThrow(/AccessDenied|denied|refused/i);
      } finally {
        proxy.fault = undefined;
      }
      expect(await objects()).toEqual(before);
    });
  }
});
