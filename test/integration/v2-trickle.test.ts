import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/**
 * An etcd v2 endpoint (or a broken proxy in front of one) that answers a request and then trickles its body, a byte
 * now and then. RS_ETCD_TIMEOUT bounds one etcd call ("etcd stops answering: exit 1 after RS_ETCD_TIMEOUT"), but the
 * v2 client only had a socket timeout, which a trickle never trips: the backup never ended (nor the `run` job queue
 * behind it). The server is a stand-in for that endpoint (a real etcd does not trickle); what is under test is how
 * reshifter bounds its calls.
 */
let server: Server;
let endpoint: string;
let dir: string;
const timers = new Set<NodeJS.Timeout>();

beforeAll(async () => {
  server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'X-Etcd-Index': '5' });
    res.write('{"action":"get","node":{"dir":true,"nodes":[');
    const t = setInterval(() => res.write(' '), 200);
    timers.add(t);
    req.socket.once('close', () => {
      clearInterval(t);
      timers.delete(t);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), 'rs-v2-trickle-'));
});
afterAll(async () => {
  for (const t of timers) clearInterval(t);
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

it('a v2 backup whose answer trickles in fails after RS_ETCD_TIMEOUT instead of waiting forever', async () => {
  const res = await runCli(['backup'], { RS_ETCD_ENDPOINTS: endpoint, RS_ETCD_API_VERSION: 'v2', RS_ETCD_TIMEOUT: '2s', RS_BACKUP_DIR: dir }, { timeoutMs: 30_000 });
  expect(res.signal, res.stderr).toBeNull();
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toContain(`GET /v2/keys/ failed at ${endpoint}: no complete answer within 2000 ms (RS_ETCD_TIMEOUT)`);
  // Nothing half-written.
  expect((await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.json') || f.includes('.raw.'))).toEqual([]);
}, 40_000);
