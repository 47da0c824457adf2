import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApi, type TestApi } from '../helpers/api.js';

/**
 * A page of another site, open in the operator's browser, that points at the API of a `run` on loopback
 * (`<img src="http://127.0.0.1:8080/api/v1/stats">`, a form, fetch in no-cors mode). It cannot read the answers, but
 * without a token the reads of the cluster's contents answer on loopback, so it could make the server read the whole
 * etcd (stats, explore) or download two backups (diff), again and again. The browser says where such a request comes
 * from (Sec-Fetch-Site); the API now refuses those of another site and answers the UI's own (same-origin).
 */
let api: TestApi;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-cross-site-'));
  api = await startApi({ RS_BACKUP_DIR: dir });
});
afterAll(async () => {
  await api?.stop();
  await rm(dir, { recursive: true, force: true });
});

function get(path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${api.url}${path}`, { headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

it.each(['cross-site', 'same-site'])('refuses a request a browser sends for another site (Sec-Fetch-Site: %s)', async (site) => {
  for (const path of ['/api/v1/backups/latest', '/api/v1/backups', '/api/v1/version']) {
    const res = await get(path, { 'Sec-Fetch-Site': site, 'Sec-Fetch-Mode': 'no-cors', 'Sec-Fetch-Dest': 'image' });
    expect(res.status, `${path}: ${res.body}`).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'forbidden' });
  }
});

it("answers the web UI's own requests and clients that are not browsers", async () => {
  expect((await get('/api/v1/backups', { 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'cors' })).status).toBe(200);
  expect((await get('/api/v1/backups', { 'Sec-Fetch-Site': 'none' })).status).toBe(200);
  expect((await get('/api/v1/backups', {})).status).toBe(200);
  // A content read, open on loopback: not refused (an empty store has no latest backup).
  expect((await get('/api/v1/backups/latest', {})).status).toBe(404);
});
