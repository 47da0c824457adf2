import { createHash } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import type { JobView } from '../../src/core/jobs.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { ROUTES } from '../../src/server/api/index.js';
import { validate, type Schema } from '../../src/server/api/schema.js';
import { VERSION } from '../../src/version.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * The HTTP API against a real etcd and a real S3-compatible server, served by the same HTTP server as `run`: every
 * endpoint, the token rules, bad requests, the one-writer queue, diff and restore. Responses are checked against
 * the served OpenAPI document's schemas.
 */
const TOKEN = 'api-test-token-5f1c0e9a7d';
let etcd: TestEtcd;
let s3: TestS3;
let api: TestApi; // with RS_API_TOKEN
let open: TestApi; // without: read-only
let client: Etcd3;
let doc: { paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, Schema> } };
const auth = { token: TOKEN };
const env = () => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_CLUSTER_NAME: 'api', ...s3.env });

beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  client = new Etcd3({ hosts: etcd.endpoint });
  await loadDataset(client, sampleDataset({ namespaces: 2, podsPerNamespace: 2, podSpecBytes: 50 }));
  [api, open] = await Promise.all([startApi({ ...env(), RS_API_TOKEN: TOKEN }), startApi(env())]);
  doc = (await (await api.call('/api/v1/openapi.json', auth)).json()) as typeof doc;
});

afterAll(async () => {
  client?.close();
  await Promise.all([api?.stop(), open?.stop()]);
  await Promise.all([etcd?.stop(), s3?.stop()]);
});

/** Checks a body against a schema of the served document. */
function expectSchema(body: unknown, schema: Schema): void {
  expect(validate(schema, body, doc.components.schemas)).toBeUndefined();
}
const component = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

async function expectError(res: Response, status: number, code: string, field?: string): Promise<{ error: string; field?: string }> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: string; code: string; field?: string };
  expectSchema(body, component('Error'));
  expect(body.code).toBe(code);
  if (field !== undefined) expect(body.field).toBe(field);
  return body;
}

async function startJob(path: string, json?: unknown): Promise<JobView> {
  const res = await api.call(path, { method: 'POST', ...auth, ...(json !== undefined && { json }) });
  expect(res.status).toBe(202);
  const job = (await res.json()) as JobView;
  expectSchema(job, component('Job'));
  expect(res.headers.get('location')).toBe(`/api/v1/jobs/${job.id}`);
  return job;
}

async function finished(job: JobView): Promise<JobView> {
  const done = await api.waitJob(job.id, TOKEN);
  expectSchema(done, component('Job'));
  if (done.state === 'failed') throw new Error(`job ${done.kind} failed: ${done.error}`);
  return done;
}

const backups: Record<string, Manifest> = {};

describe('the token', () => {
  it('is required on every API request when set: 401 without it or with a wrong one, never echoed', async () => {
    // Each says what was wrong with what was sent (before: the same words for all), never what was sent.
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /no Authorization header/],
      [{ Authorization: 'Bearer wrong-token-wrong-token' }, /the token it carries is not RS_API_TOKEN/],
      [{ Authorization: TOKEN }, /is not "Bearer " and one token/],
      [{ Authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` }, /scheme Basic, not Bearer \(a proxy in front/],
    ];
    for (const [headers, why] of cases) {
      const res = await api.call('/api/v1/backups', { headers });
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="reshifter"');
      const body = await expectError(res, 401, 'unauthorized');
      expect(body.error).toMatch(why);
      expect(JSON.stringify(body)).not.toContain(TOKEN);
      expect(body.error).not.toContain('wrong-token');
    }
    expect(api.logs()).not.toContain('wrong-token');
    expect(api.logs()).not.toContain(TOKEN);
    // Even unknown paths: nothing about the API is told without the token.
    await expectError(await api.call('/api/v1/nope'), 401, 'unauthorized');
    expect((await api.call('/api/v1/backups', { headers: { Authorization: `bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('leaves /healthz, /metrics and the page open', async () => {
    for (const path of ['/healthz', '/metrics', '/']) expect((await api.call(path)).status).toBe(200);
  });

  it('without RS_API_TOKEN the API reads but refuses changes and downloads (403)', async () => {
    expect((await open.call('/api/v1/backups')).status).toBe(200);
    expect((await open.call('/api/v1/version')).status).toBe(200);
    const id = '20260101T000000.000Z-abcdef';
    await expectError(await open.call('/api/v1/backups', { method: 'POST' }), 403, 'forbidden');
    await expectError(await open.call(`/api/v1/backups/${id}/verify`, { method: 'POST' }), 403, 'forbidden');
    await expectError(await open.call(`/api/v1/backups/${id}`, { method: 'DELETE' }), 403, 'forbidden');
    await expectError(await open.call('/api/v1/restores', { method: 'POST', json: { backupId: id, dryRun: true } }), 403, 'forbidden');
    await expectError(await open.call(`/api/v1/backups/${id}/artifact`), 403, 'forbidden');
    // A token sent to a server that has none changes nothing.
    await expectError(await open.call('/api/v1/backups', { method: 'POST', token: 'whatever-token-123456' }), 403, 'forbidden');
  });
});

describe('bad requests', () => {
  it('404 as JSON for unknown paths, 405 naming the allowed methods', async () => {
    await expectError(await api.call('/api/v1/nope', auth), 404, 'not_found');
    await expectError(await api.call('/api', auth), 404, 'not_found');
    const other = await api.call('/no/such/page');
    expect(other.status).toBe(404);
    expect(other.headers.get('content-type')).toMatch(/^application\/json/);
    const res = await api.call('/api/v1/backups', { method: 'PUT', ...auth });
    await expectError(res, 405, 'method_not_allowed');
    expect(res.headers.get('allow')).toBe('GET, HEAD, POST');
  });

  it('400 naming the path parameter or query parameter', async () => {
    await expectError(await api.call('/api/v1/backups/not-an-id', auth), 400, 'bad_request', 'id');
    // A broken percent-encoding is the request's mistake, said so (before: a 404 "no API path").
    const broken = await expectError(await api.call('/api/v1/backups/%ZZ', auth), 400, 'bad_request');
    expect(broken.error).toContain('not valid percent-encoding');
    await expectError(await api.call('/api/v1/backups/latest', { method: 'DELETE', ...auth }), 400, 'bad_request', 'id');
    await expectError(await api.call('/api/v1/jobs/nope', auth), 400, 'bad_request', 'id');
    await expectError(await api.call('/api/v1/diff?from=latest', auth), 400, 'bad_request', 'to');
    await expectError(await api.call('/api/v1/diff?from=latest&to=latest&limit=lots', auth), 400, 'bad_request', 'limit');
    await expectError(await api.call('/api/v1/diff?from=latest&to=latest&colour=red', auth), 400, 'bad_request', 'colour');
    await expectError(await api.call('/api/v1/backups?page=2', auth), 400, 'bad_request', 'page');
  });

  it('400 naming the body field; 413, 415 and unparsable bodies', async () => {
    const post = (path: string, body: string, type = 'application/json') =>
      api.call(path, { method: 'POST', ...auth, body, headers: { 'Content-Type': type } });
    await expectError(await post('/api/v1/backups', '{"strategy":"weird"}'), 400, 'bad_request', 'strategy');
    await expectError(await post('/api/v1/backups', '{"strategy":"filter:"}'), 400, 'bad_request', 'strategy');
    await expectError(await post('/api/v1/backups', '{"colour":"red"}'), 400, 'bad_request', 'colour');
    await expectError(await post('/api/v1/backups', '[1]'), 400, 'bad_request');
    await expectError(await post('/api/v1/backups', '{"strategy":'), 400, 'bad_request');
    await expectError(await post('/api/v1/backups', '{}', 'text/plain'), 415, 'unsupported_media_type');
    await expectError(await post('/api/v1/backups', JSON.stringify({ strategy: 'x'.repeat(100_000) })), 413, 'body_too_large');
    await expectError(await post('/api/v1/restores', '{}'), 400, 'bad_request', 'backupId');
    await expectError(await post('/api/v1/restores', ''), 400, 'bad_request');
    const id = '20260101T000000.000Z-abcdef';
    await expectError(await post('/api/v1/restores', JSON.stringify({ backupId: id, dryRun: 'yes' })), 400, 'bad_request', 'dryRun');
    await expectError(await post('/api/v1/restores', JSON.stringify({ backupId: id, includeNamespaces: ['ok', 'Not_OK'] })), 400, 'bad_request', 'includeNamespaces[1]');
    await expectError(await post('/api/v1/restores', JSON.stringify({ backupId: '../../etc/passwd' })), 400, 'bad_request', 'backupId');
    // Well-formed, but no such backup or job.
    await expectError(await post('/api/v1/restores', JSON.stringify({ backupId: id })), 404, 'not_found', 'backupId');
    await expectError(await api.call(`/api/v1/backups/${id}`, auth), 404, 'not_found');
    await expectError(await api.call('/api/v1/jobs/00000000-0000-4000-8000-000000000000', auth), 404, 'not_found');
    // Nothing of it started a job.
    expect(api.jobs.list()).toEqual([]);
  });

  it('400 naming the fields of a body sent to a route that takes none (before: ignored); none, empty or {} is fine', async () => {
    const id = '20260101T000000.000Z-abcdef';
    const send = (method: string, path: string, body: string, type = 'application/json') =>
      api.call(path, { method, ...auth, body, headers: { 'Content-Type': type } });
    const verify = await expectError(await send('POST', `/api/v1/backups/${id}/verify`, '{"checks":["all"],"deep":true}'), 400, 'bad_request', 'checks');
    expect(verify.error).toBe(`POST /api/v1/backups/{id}/verify takes no request body: fields "checks", "deep" are not allowed here (send none, or {})`);
    const del = await expectError(await send('DELETE', `/api/v1/backups/${id}`, '{"force":true}'), 400, 'bad_request', 'force');
    expect(del.error).toContain('field "force" is not allowed here');
    expect((await expectError(await send('POST', `/api/v1/backups/${id}/verify`, '[1]'), 400, 'bad_request')).error).toContain('a JSON array');
    expect((await expectError(await send('POST', `/api/v1/backups/${id}/verify`, 'force=true', 'application/x-www-form-urlencoded'), 400, 'bad_request')).error).toContain('not even JSON');
    // What passes the check goes on to the route: no such backup.
    for (const body of ['{}', ' { } ', '']) await expectError(await send('POST', `/api/v1/backups/${id}/verify`, body), 404, 'not_found');
    await expectError(await api.call(`/api/v1/backups/${id}/verify`, { method: 'POST', ...auth }), 404, 'not_found');
    await expectError(await send('DELETE', `/api/v1/backups/${id}`, '{}'), 404, 'not_found');
    expect(api.jobs.list()).toEqual([]);
  });
});

describe('backups and jobs', () => {
  it('runs writing jobs one at a time, in order: a second backup waits for the first', async () => {
    const first = await startJob('/api/v1/backups', { strategy: 'raw' });
    const second = await startJob('/api/v1/backups');
    expect(second.state).toBe('queued');
    expect(second.queuePosition).toBe(1);
    const [a, b] = [await finished(first), await finished(second)];
    expect(Date.parse(b.startedAt!)).toBeGreaterThanOrEqual(Date.parse(a.finishedAt!));
    backups.raw1 = a.result as Manifest;
    backups.snap1 = b.result as Manifest;
    expect(backups.raw1).toMatchObject({ strategy: 'raw', contentType: 'tar', cluster: 'api' });
    expect(backups.snap1).toMatchObject({ strategy: 'snapshot', contentType: 'etcd-snapshot' });
    // A finished backup job has read all of the backup: its progress is the raw size, whatever the sampling caught.
    expect(a.progress.bytes).toBe(backups.raw1.rawSizeBytes);
    expect(b.progress.bytes).toBe(backups.snap1.rawSizeBytes);
    // And a key dump's job counts its keys, as its manifest does (before: keys 0 beside a dump of every key).
    expect(a.progress.keys).toBe(backups.raw1.keys);
    expect(a.progress.keys).toBeGreaterThan(0);
  });

  it('lists manifests newest first, and gets one by id or as latest', async () => {
    const res = await api.call('/api/v1/backups', auth);
    const list = (await res.json()) as Manifest[];
    expectSchema(list, { type: 'array', items: component('Manifest') });
    expect(list.map((m) => m.id)).toEqual([backups.snap1!.id, backups.raw1!.id]);
    const one = (await (await api.call(`/api/v1/backups/${backups.raw1!.id}`, auth)).json()) as Manifest;
    expect(one).toEqual(backups.raw1);
    const latest = (await (await api.call('/api/v1/backups/latest', auth)).json()) as Manifest;
    expect(latest.id).toBe(backups.snap1!.id);
  });

  it('lists the clusters of the store, this one marked, with its newest backup (as list --all-clusters)', async () => {
    const res = await api.call('/api/v1/clusters', auth);
    expect(res.status).toBe(200);
    const clusters = (await res.json()) as Array<{ cluster: string; backups: number; current: boolean; newest?: { id: string }; ageSeconds?: number }>;
    expectSchema(clusters, { type: 'array', items: component('Cluster') });
    expect(clusters).toEqual([expect.objectContaining({ cluster: 'api', backups: 2, current: true, newest: expect.objectContaining({ id: backups.snap1!.id }) })]);
    expect(clusters[0]!.ageSeconds).toBeGreaterThanOrEqual(0);
  });

  it('streams the stored bytes of a backup', async () => {
    const m = backups.snap1!;
    const res = await api.call(`/api/v1/backups/${m.id}/artifact`, auth);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(Number(res.headers.get('content-length'))).toBe(m.sizeBytes);
    expect(res.headers.get('x-content-sha256')).toBe(m.sha256);
    expect(res.headers.get('content-disposition')).toContain(m.artifact);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(m.sha256);
  });

  it('verifies a backup as a job, with the checks as its result', async () => {
    const job = await finished(await startJob(`/api/v1/backups/${backups.raw1!.id}/verify`));
    expect(job).toMatchObject({ kind: 'verify', writes: false, params: { backupId: backups.raw1!.id } });
    expectSchema(job.result, component('VerifyResult'));
    const r = job.result as { ok: boolean; checks: Array<{ name: string; ok: boolean }> };
    expect(r.ok).toBe(true);
    expect(r.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['size', 'sha256', 'content']));
    expect(job.progress.bytes).toBe(backups.raw1!.sizeBytes);
    const listed = (await (await api.call('/api/v1/jobs', auth)).json()) as JobView[];
    expect(listed[0]!.id).toBe(job.id);
    expect(listed).toHaveLength(3);
  });

  it('verifies a snapshot backup down to its bbolt file: the "snapshot ..." checks of the walk', async () => {
    const m = backups.snap1!;
    const job = await finished(await startJob(`/api/v1/backups/${m.id}/verify`));
    expectSchema(job.result, component('VerifyResult'));
    const r = job.result as { id: string; ok: boolean; checks: Array<{ name: string; ok: boolean; detail: string }> };
    expect(r).toMatchObject({ id: m.id, ok: true });
    expect(r.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['size', 'sha256']));
    const walk = r.checks.filter((c) => c.name.startsWith('snapshot '));
    expect(walk.length).toBeGreaterThan(0);
    expect(walk.filter((c) => !c.ok)).toEqual([]);
    expect(job.progress.bytes).toBe(m.sizeBytes);
  });
});

describe('version, explore and stats', () => {
  it('version and explore', async () => {
    const v = await (await api.call('/api/v1/version', auth)).json();
    expectSchema(v, component('Version'));
    // The sources run here, without dist/build.json: no commit (test/e2e/build-commit.test.ts has a build's).
    expect(v).toEqual({ version: VERSION, node: process.version });
    const e = (await (await api.call('/api/v1/explore', auth)).json()) as { etcdVersion: string; revision: number; endpoints: string[] };
    expectSchema(e, component('Explore'));
    expect(e.endpoints).toEqual([etcd.endpoint]);
    expect(e.revision).toBeGreaterThan(0);
  });

  it('stats of the live etcd and of a backup, per namespace and resource', async () => {
    const live = (await (await api.call('/api/v1/stats', auth)).json()) as { keys: number; byNamespace: Record<string, unknown>; byResource: Record<string, unknown>; source: { kind: string } };
    expectSchema(live, component('Stats'));
    expect(live.source.kind).toBe('live');
    expect(Object.keys(live.byNamespace)).toEqual(expect.arrayContaining(['default', 'team-1']));
    expect(Object.keys(live.byResource)).toEqual(expect.arrayContaining(['pods', 'deployments', 'namespaces']));
    for (const m of [backups.raw1!, backups.snap1!]) {
      const s = (await (await api.call(`/api/v1/stats/${m.id}`, auth)).json()) as { keys: number; source: { kind: string; id: string } };
      expectSchema(s, component('Stats'));
      expect(s.source).toMatchObject({ kind: 'backup', id: m.id });
      expect(s.keys).toBe(live.keys);
    }
  });

  it('refuses more heavy reads than allowed at once (429)', async () => {
    api.deps.maxHeavyReads = 0;
    try {
      const res = await api.call('/api/v1/stats', auth);
      await expectError(res, 429, 'busy');
      expect(res.headers.get('retry-after')).toBe('5');
    } finally {
      delete api.deps.maxHeavyReads;
    }
  });
});

describe('diff', () => {
  beforeAll(async () => {
    await client.put('/registry/deployments/team-1/api').value('new deployment');
    await client.delete().key('/registry/pods/default/web-0001');
    await client.put('/registry/configmaps/default/web').value('changed');
    const raw = await startJob('/api/v1/backups', { strategy: 'raw' });
    const snap = await startJob('/api/v1/backups', { strategy: 'snapshot' });
    backups.raw2 = (await finished(raw)).result as Manifest;
    backups.snap2 = (await finished(snap)).result as Manifest;
  });

  const expected = {
    summary: { added: 1, removed: 1, changed: 1 },
    groups: [
      { resource: 'configmaps', namespace: 'default', added: 0, removed: 0, changed: 1 },
      { resource: 'deployments', namespace: 'team-1', added: 1, removed: 0, changed: 0 },
      { resource: 'pods', namespace: 'default', added: 0, removed: 1, changed: 0 },
    ],
    objects: [
      { change: 'changed', key: '/registry/configmaps/default/web', resource: 'configmaps', namespace: 'default', name: 'web' },
      { change: 'added', key: '/registry/deployments/team-1/api', resource: 'deployments', namespace: 'team-1', name: 'api' },
      { change: 'removed', key: '/registry/pods/default/web-0001', resource: 'pods', namespace: 'default', name: 'web-0001' },
    ],
  };

  it.each([
    ['two key dumps', 'raw1', 'raw2'],
    ['two snapshots', 'snap1', 'snap2'],
    ['a key dump and a snapshot', 'raw1', 'snap2'],
  ])('says what changed between %s', async (_what, from, to) => {
    const res = await api.call(`/api/v1/diff?from=${backups[from]!.id}&to=${backups[to]!.id}`, auth);
    expect(res.status).toBe(200);
    const d = await res.json();
    expectSchema(d, component('Diff'));
    expect(d).toMatchObject({ ...expected, from: { id: backups[from]!.id }, to: { id: backups[to]!.id }, truncated: false });
  });

  it('caps the object list with limit, and finds nothing between a backup and itself', async () => {
    const capped = (await (await api.call(`/api/v1/diff?from=${backups.raw1!.id}&to=${backups.raw2!.id}&limit=1`, auth)).json()) as { objects: unknown[] };
    expect(capped).toMatchObject({ summary: expected.summary, truncated: true });
    expect(capped.objects).toHaveLength(1);
    const same = (await (await api.call(`/api/v1/diff?from=${backups.snap1!.id}&to=${backups.snap1!.id}`, auth)).json()) as { summary: unknown; groups: unknown[] };
    expect(same.summary).toMatchObject({ added: 0, removed: 0, changed: 0 });
    expect(same.groups).toEqual([]);
  });

  it('the CLI says the same: reshifter diff <from> <to> --json', async () => {
    const res = await runInProcess(['diff', backups.raw1!.id, backups.snap2!.id, '--json'], env());
    expect(res.stderr).toBe('');
    expect(JSON.parse(res.stdout)).toMatchObject(expected);
    const text = await runInProcess(['diff', backups.raw1!.id, 'latest'], env());
    expect(text.stdout).toContain('+ /registry/deployments/team-1/api');
    expect(text.stdout).toMatch(/1 added, 1 removed, 1 changed, \d+ unchanged/);
    expect((await runInProcess(['diff', backups.raw1!.id], env())).code).toBe(2);
  });
});

describe('restore', () => {
  it('refuses a render listing (400 naming backupId), starting no job', async () => {
    const listing = (await finished(await startJob('/api/v1/backups', { strategy: 'render' }))).result as Manifest;
    expect(listing).toMatchObject({ strategy: 'render', contentType: 'jsonl' });
    const jobs = api.jobs.list().length;
    for (const dryRun of [true, false]) {
      const res = await api.call('/api/v1/restores', { method: 'POST', ...auth, json: { backupId: listing.id, dryRun } });
      const body = await expectError(res, 400, 'bad_request', 'backupId');
      expect(body.error).toContain(listing.id);
      expect(body.error).toMatch(/listing/);
    }
    expect(api.jobs.list()).toHaveLength(jobs);
    // Out of the way of the counts below (the newest listing: deleting it takes force).
    expect((await api.call(`/api/v1/backups/${listing.id}?force=true`, { method: 'DELETE', ...auth })).status).toBe(204);
  });

  it('plans first (dry run writes nothing), then restores with the filters', async () => {
    await client.delete().key('/registry/configmaps/default/web');
    await client.delete().key('/registry/configmaps/team-1/web');
    const plan = await finished(await startJob('/api/v1/restores', { backupId: backups.raw2!.id, dryRun: true, includeNamespaces: ['default'] }));
    expect(plan).toMatchObject({ kind: 'restore', writes: true, params: { backupId: backups.raw2!.id, dryRun: true } });
    const report = plan.result as { dryRun: boolean; written: number; totals: { create: number; update: number }; resources: Array<{ resource: string; create: number }> };
    expect(report.dryRun).toBe(true);
    expect(report.written).toBe(0);
    expect(report.totals.create).toBe(1);
    expect(report.resources.find((r) => r.resource === 'configmaps')!.create).toBe(1);
    // Every key of the dump was looked at, in one of the phases.
    expect(plan.progress.keys).toBe(backups.raw2!.keys);
    expect(await client.get('/registry/configmaps/default/web').string()).toBeNull();

    const done = await finished(await startJob('/api/v1/restores', { backupId: backups.raw2!.id, includeNamespaces: ['default'] }));
    expect((done.result as { written: number }).written).toBe(1);
    expect(await client.get('/registry/configmaps/default/web').string()).toBe('changed');
    // Filtered out: team-1 stays as it is.
    expect(await client.get('/registry/configmaps/team-1/web').string()).toBeNull();
  });

  it("restores a snapshot's live keys: the dry-run plan writes nothing, then the keys come back with their values", async () => {
    const snap = (await finished(await startJob('/api/v1/backups', { strategy: 'snapshot' }))).result as Manifest;
    // A namespace's objects deleted after the snapshot, and one key of another namespace the filter must leave alone.
    const gone = ['/registry/deployments/team-1/web', '/registry/pods/team-1/web-0000', '/registry/secrets/team-1/db-password', '/registry/example.com/widgets/team-1/gadget'];
    const other = '/registry/services/specs/default/web';
    const before = new Map<string, Buffer>();
    for (const key of [...gone, other]) {
      const value = await client.get(key).buffer();
      expect(value, key).not.toBeNull();
      before.set(key, value!);
      await client.delete().key(key);
    }
    try {
      const request = { backupId: snap.id, includeNamespaces: ['team-1'] };
      const plan = await finished(await startJob('/api/v1/restores', { ...request, dryRun: true }));
      expect(plan).toMatchObject({ kind: 'restore', writes: true, params: { backupId: snap.id, dryRun: true, includeNamespaces: ['team-1'] } });
      const planned = plan.result as { dryRun: boolean; written: number; totals: { create: number; update: number }; resources: Array<{ resource: string; create: number }>; target: { endpoints: string[] } };
      expect(planned).toMatchObject({ dryRun: true, written: 0, totals: { create: gone.length, update: 0 }, target: { endpoints: [etcd.endpoint] } });
      expect(planned.resources.find((r) => r.resource === 'pods')!.create).toBe(1);
      expect(plan.progress.keys).toBeGreaterThan(0);
      for (const key of gone) expect(await client.get(key).buffer(), key).toBeNull();

      const done = await finished(await startJob('/api/v1/restores', request));
      expect(done.result).toMatchObject({ dryRun: false, written: gone.length, totals: { create: gone.length, update: 0 } });
      for (const key of gone) expect(await client.get(key).buffer(), key).toEqual(before.get(key));
      // Filtered out: default stays as it is.
      expect(await client.get(other).buffer()).toBeNull();
    } finally {
      await client.put(other).value(before.get(other)!);
      expect((await api.call(`/api/v1/backups/${snap.id}?force=true`, { method: 'DELETE', ...auth })).status).toBe(204);
    }
  });

  it('queues a restore behind a running writer, and refuses to delete a backup a job uses (409)', async () => {
    let release!: () => void;
    const holder = api.jobs.submit({ kind: 'backup', writes: true, run: () => new Promise<void>((r) => (release = r)) });
    const restore = await startJob('/api/v1/restores', { backupId: backups.raw1!.id, dryRun: true });
    expect(restore).toMatchObject({ state: 'queued', queuePosition: 1 });
    await expectError(await api.call(`/api/v1/backups/${backups.raw1!.id}`, { method: 'DELETE', ...auth }), 409, 'conflict');
    release();
    await api.jobs.wait(holder.id);
    expect((await finished(restore)).state).toBe('succeeded');
  });
});

describe('delete', () => {
  it('deletes a backup: it is gone from the list and its bytes from the store', async () => {
    const m = backups.raw1!;
    const res = await api.call(`/api/v1/backups/${m.id}`, { method: 'DELETE', ...auth });
    expect(res.status).toBe(204);
    await expectError(await api.call(`/api/v1/backups/${m.id}`, auth), 404, 'not_found');
    await expectError(await api.call(`/api/v1/backups/${m.id}/artifact`, auth), 404, 'not_found');
    const list = (await (await api.call('/api/v1/backups', auth)).json()) as Manifest[];
    expect(list.map((b) => b.id)).not.toContain(m.id);
    expect(list).toHaveLength(3);
  });

  it('refuses the newest backup of a series (409) unless force=true, as reshifter delete --force', async () => {
    const newest = ((await (await api.call('/api/v1/backups', auth)).json()) as Manifest[])[0]!;
    const body = await expectError(await api.call(`/api/v1/backups/${newest.id}`, { method: 'DELETE', ...auth }), 409, 'conflict');
    expect(body.error).toContain(`backup ${newest.id} is the newest of series`);
    // The way out as the API takes it, not the CLI's flag.
    expect(body.error).toMatch(/refusing to delete it without \?force=true$/);
    expect((await api.call(`/api/v1/backups/${newest.id}`, auth)).status).toBe(200);
    expect((await api.call(`/api/v1/backups/${newest.id}?force=true`, { method: 'DELETE', ...auth })).status).toBe(204);
    await expectError(await api.call(`/api/v1/backups/${newest.id}`, auth), 404, 'not_found');
  });
});

describe('the OpenAPI document', () => {
  it('describes exactly the routes that are served', async () => {
    expect(doc).toMatchObject({ openapi: '3.1.0', info: { title: 'reshifter', version: VERSION } });
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(documented.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    // Every documented operation is answered by something other than "no such path".
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        const concrete = path.replace('{id}', '00000000-0000-4000-8000-000000000000').replace('{backupId}', 'latest');
        // Bodies that fail validation: the point is the route, not starting jobs.
        const res = await api.call(concrete, { method: method.toUpperCase(), ...auth, ...(method === 'post' && { json: { unknownField: 1 } }) });
        const body = res.status === 204 ? undefined : res.headers.get('content-type')?.startsWith('application/json') ? await res.json() : await res.arrayBuffer();
        expect(body === undefined || (body as { error?: string }).error === undefined || !/no API path/.test((body as { error: string }).error)).toBe(true);
        expect(res.status).not.toBe(405);
      }
    }
  });

  it('documents the answers the web UI relies on: download, delete, and restore of key dumps and snapshots', () => {
    type Op = { description?: string; responses: Record<string, { content?: Record<string, unknown>; headers?: Record<string, unknown> }>; 'x-access'?: string };
    const op = (path: string, method: string) => doc.paths[path]![method] as Op;
    const download = op('/api/v1/backups/{id}/artifact', 'get');
    expect(Object.keys(download.responses['200']!.content!)).toEqual(['application/octet-stream']);
    expect(Object.keys(download.responses['200']!.headers!).sort()).toEqual(['Content-Disposition', 'X-Content-SHA256']);
    expect(download['x-access']).toBe('sensitive');
    expect(Object.keys(op('/api/v1/backups/{id}', 'delete').responses)).toEqual(expect.arrayContaining(['204', '401', '403', '404', '409']));
    const restore = op('/api/v1/restores', 'post');
    expect(Object.keys(restore.responses)).toEqual(expect.arrayContaining(['202', '400', '404']));
    expect(restore.description).toContain('--keys');
    expect(op('/api/v1/backups/{id}/verify', 'post').description).toContain('"snapshot ..."');
  });
});

describe('secrets', () => {
  it('the token appears in no log line', () => {
    expect(api.logs()).toContain('"msg":"api request');
    expect(api.logs()).not.toContain(TOKEN);
    expect(open.logs()).not.toContain(TOKEN);
  });
});
