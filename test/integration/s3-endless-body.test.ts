import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { writeGoReshifterZip } from '../helpers/go-reshifter-zip.js';

/**
 * An S3 endpoint whose GetObject of an artifact sends the artifact and then keeps going (a hostile endpoint, or a
 * broken gateway's chunked body that never ends; HeadObject says the right size). reshifter read on to the end of
 * the body, or forever, staging it in the work area (restore, inspect) until the disk was full, before the size
 * check at the end could fail: a 7 KiB backup had read 3 GB after ten seconds. It now stops at the first byte past
 * the manifest's size. The server here is a stand-in for that endpoint (s3rver never sends more than it stores); the
 * backups it serves are real ones, taken from a real etcd into a local folder.
 */
const EXTRA = 64 * 1024 * 1024;
let etcd: TestEtcd;
let dir: string;
let server: Server;
let endpoint: string;
/** Extra bytes the server got onto the wire, per GetObject of an artifact. */
const extraSent: number[] = [];
const ids: Record<'raw' | 'snapshot', string> = { raw: '', snapshot: '' };
const GO_ID = '1498050161';

function serve(): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const key = decodeURIComponent(url.pathname.split('/').slice(2).join('/'));
    void (async () => {
      if (req.method === 'GET' && url.searchParams.has('list-type')) {
        const prefix = url.searchParams.get('prefix') ?? '';
        const names = prefix === 'default/' ? (await readdir(join(dir, 'default'))).sort() : [];
        const contents = await Promise.all(
          names.map(async (n) => `<Contents><Key>default/${n}</Key><Size>${(await readFile(join(dir, 'default', n))).length}</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>`),
        );
        res.writeHead(200, { 'Content-Type': 'application/xml' });
        res.end(`<?xml version="1.0"?><ListBucketResult><Name>bkt</Name><Prefix>${prefix}</Prefix><IsTruncated>false</IsTruncated>${contents.join('')}</ListBucketResult>`);
        return;
      }
      const data = await readFile(join(dir, key)).catch(() => undefined);
      if (data === undefined) {
        res.writeHead(404, { 'Content-Type': 'application/xml' });
        res.end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>');
        return;
      }
      if (req.method === 'HEAD' || key.endsWith('.json')) {
        res.writeHead(200, { 'Content-Length': String(data.length), ETag: '"e"' });
        res.end(req.method === 'HEAD' ? undefined : data);
        return;
      }
      // The artifact, then zeros (no Content-Length: chunked) until EXTRA bytes, or the client goes away.
      const slot = extraSent.push(0) - 1;
      res.writeHead(200, { ETag: '"e"' });
      res.write(data);
      const zeros = Buffer.alloc(1024 * 1024);
      const pump = () => {
        while (extraSent[slot]! < EXTRA && !res.destroyed) {
          extraSent[slot]! += zeros.length;
          if (!res.write(zeros)) return;
        }
        if (!res.destroyed) res.end();
      };
      res.on('drain', pump);
      pump();
    })();
  });
}

beforeAll(async () => {
  etcd = await startEtcd();
  dir = await mkdtemp(join(tmpdir(), 'rs-endless-'));
  await etcd.ctl(['put', '/registry/secrets/default/db', 'password']);
  for (const strategy of ['raw', 'snapshot'] as const) {
    const res = await runCli(['backup', '--json', '--strategy', strategy], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: dir, RS_COMPRESSION: 'none' });
    expect(res.code, res.stderr).toBe(0);
    ids[strategy] = (JSON.parse(res.stdout) as { id: string }).id;
  }
  // A backup of the Go Reshifter at the top of the bucket, which reshifter downloads by its HeadObject's size.
  await writeGoReshifterZip(join(dir, `${GO_ID}.zip`), GO_ID, [['/registry/secrets/default/db', 'password']]);
  server = serve();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await etcd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const env = () => ({
  RS_S3_BUCKET: 'bkt',
  RS_S3_ENDPOINT: endpoint,
  RS_S3_REGION: 'us-east-1',
  RS_S3_FORCE_PATH_STYLE: 'true',
  ACCESS_KEY_ID: 'AKIDENDLESS',
  SECRET_ACCESS_KEY: 'endless-secret',
  RS_S3_RETRY_WINDOW: '1s',
  RS_ETCD_ENDPOINTS: etcd.endpoint,
});

it.each([
  ['restore of a key dump', () => ['restore', ids.raw, '--dry-run']],
  ['verify of a key dump', () => ['verify', ids.raw]],
  ['inspect of a snapshot', () => ['inspect', ids.snapshot]],
  ['verify of a snapshot', () => ['verify', ids.snapshot]],
])('%s stops at the first byte past the manifest\'s size', async (_what, args) => {
  extraSent.length = 0;
  const res = await runCli(args(), env());
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toMatch(/size: backup \S+: s3:\/\/bkt\/default\/\S+ holds more than the \d+ bytes its manifest says/);
  expect(res.stderr).not.toMatch(/this is a bug|Unhandled|node:events/);
  // What the sockets buffered before reshifter closed the connection, not the whole endless body.
  expect(extraSent.length).toBeGreaterThan(0);
  expect(Math.max(...extraSent)).toBeLessThan(EXTRA / 2);
});

it('restore of a backup of the Go Reshifter stops at the first byte past the size its HeadObject said', async () => {
  // The download into the work area read the endless body on, toward a full disk (found by a security pass).
  extraSent.length = 0;
  const work = await mkdtemp(join(tmpdir(), 'rs-endless-work-'));
  try {
    const res = await runCli(['restore', GO_ID, '--dry-run'], { ...env(), RS_TMP_DIR: work });
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`size: s3://bkt/${GO_ID}\\.zip holds more than the \\d+ bytes its HeadObject said`));
    expect(extraSent.length).toBeGreaterThan(0);
    expect(Math.max(...extraSent)).toBeLessThan(EXTRA / 2);
    expect(await readdir(work)).toEqual([]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
