import { expect, it } from 'vitest';
import type { Manifest } from '../../../src/archive/manifest.js';
import { startApi } from '../../helpers/api.js';
import { runCli } from '../../helpers/cli.js';
import { historyOf, revisionOf, storeSegmentOf } from '../../helpers/delta-chain.js';
import { deltaFixture } from '../../helpers/delta-fixture.js';

const f = deltaFixture('rs-latest-filter-note-');
/** The mixed folder of the first case: its note, for the API's. */
let mixed: { snapshot: Manifest; filter: Manifest; to: number } | undefined;

// The operator's mixed folder: a snapshot whose chain run records, and the hourly filter:secrets,configmaps CronJob
// taken after the last change. `restore latest --to latest` (into the running etcd) starts from the newest key dump,
// the filter dump: before, it restored Secrets and ConfigMaps only without a word, where plain `restore latest` says
// the dump holds only what its filter selected and names the whole backup.
it('restore latest --to into the running etcd says when its base is a filter: dump, naming the chain that restores every key', async () => {
  const { env } = f.store('mixed');
  await f.etcd.ctl(['put', '/registry/pods/default/web', 'w1']);
  await f.etcd.ctl(['put', '/registry/secrets/default/s', 's1']);
  const snapshot = await f.backup(env, 'snapshot');
  const from = snapshot.etcd!.revision + 1;
  await f.etcd.ctl(['put', '/registry/pods/default/web', 'w2']);
  const to = await revisionOf(f.etcd);
  await storeSegmentOf(env, { base: snapshot, fromRevision: from, toRevision: to, events: await historyOf(f.etcd.endpoint, from, to, () => Date.now()) });
  const filter = await f.backup(env, 'filter:secrets,configmaps');
  expect(filter.etcd!.revision).toBe(to);

  mixed = { snapshot, filter, to };
  const note = `note: "latest" is the newest key dump at the target, ${filter.id} (filter:secrets,configmaps), which holds only the resources its filter selected; snapshot ${snapshot.id} and the changes recorded after it restore every key at revision ${to}: add --keys`;
  const res = await runCli(['restore', 'latest', '--to', 'latest', '--dry-run'], env);
  expect(res.code, res.stderr).toBe(0);
  expect(res.stdout.split('\n')[1]).toBe(note);
  expect(res.stderr).toContain('"msg":"latest is a filter: key dump, not every resource"');
  const json = await runCli(['restore', 'latest', '--to', 'latest', '--dry-run', '--json'], env);
  expect(JSON.parse(json.stdout)).toMatchObject({ note: note.slice('note: '.length) });
  // Asked for by series or with --keys: no note.
  for (const args of [['--strategy', 'filter:secrets,configmaps'], ['--keys']]) {
    const asked = await runCli(['restore', 'latest', '--to', 'latest', '--dry-run', ...args], env);
    expect(asked.code, asked.stderr).toBe(0);
    expect(asked.stdout).not.toContain('note:');
  }
}, 60_000);

it('says so too when no whole backup reaches the target', async () => {
  const { env } = f.store('filter-only');
  // A snapshot from before the last change, with no changes recorded after it: it does not reach the target.
  await f.backup(env, 'snapshot');
  await f.etcd.ctl(['put', '/registry/secrets/default/s', 'after the snapshot']);
  const filter = await f.backup(env, 'filter:secrets');
  const res = await runCli(['restore', 'latest', '--to', 'latest', '--dry-run'], env);
  expect(res.code, res.stderr).toBe(0);
  expect(res.stdout).toContain(`note: "latest" is the newest key dump at the target, ${filter.id} (filter:secrets), which holds only the resources its filter selected; no snapshot or raw dump in the store reaches the target`);
}, 60_000);

// The same folder through the API: `{"backupId":"latest","to":"latest"}` restored the filter dump as base, and the
// job's result said nothing of it.
it('the API\'s restore of latest to latest says so in the job\'s result (note), naming how to ask for the whole chain', async () => {
  const { snapshot, filter, to } = mixed!;
  const token = 'latest-filter-note-token-01';
  const api = await startApi({ RS_ETCD_ENDPOINTS: f.etcd.endpoint, RS_BACKUP_DIR: f.store('mixed').dir, RS_API_TOKEN: token });
  try {
    const run = async (body: Record<string, unknown>) => {
      const res = await api.call('/api/v1/restores', { method: 'POST', token, json: { backupId: 'latest', to: 'latest', dryRun: true, ...body } });
      const job = (await res.json()) as { id: string };
      expect(res.status, JSON.stringify(job)).toBe(202);
      const done = await api.waitJob(job.id, token);
      expect(done.state, JSON.stringify(done)).toBe('succeeded');
      return done.result as { note?: string; point: { base: { id: string } } };
    };
    const result = await run({});
    expect(result.point.base.id).toBe(filter.id);
    expect(result.note).toBe(
      `"latest" is the newest key dump at the target, ${filter.id} (filter:secrets,configmaps), which holds only the resources its filter selected; snapshot ${snapshot.id} and the changes recorded after it restore every key at revision ${to}: set "strategy": "snapshot"`,
    );
    expect(api.logs()).toContain('"msg":"latest is a filter: key dump, not every resource"');
    // Asked for by series: no note; "strategy": "snapshot" restores the snapshot's chain as the note says.
    expect((await run({ strategy: 'filter:secrets,configmaps' })).note).toBeUndefined();
    const whole = await run({ strategy: 'snapshot' });
    expect(whole.note).toBeUndefined();
    expect(whole.point.base.id).toBe(snapshot.id);
  } finally {
    await api.stop();
  }
}, 60_000);

// Without "to": `{"backupId":"latest"}` is the newest key dump or snapshot, here the hourly filter: dump after the
// nightly raw one. `restore latest` on the CLI says so and names the raw dump; the API's job result said nothing.
it('the API\'s restore of latest (no "to") says so when it is a filter: dump, naming the newest raw dump', async () => {
  const { env } = f.store('raw-and-filter');
  const raw = await f.backup(env, 'raw');
  const filter = await f.backup(env, 'filter:secrets');
  const token = 'latest-filter-note-token-02';
  const api = await startApi({ ...env, RS_API_TOKEN: token });
  try {
    const run = async (body: Record<string, unknown>) => {
      const res = await api.call('/api/v1/restores', { method: 'POST', token, json: { dryRun: true, ...body } });
      const job = (await res.json()) as { id: string };
      expect(res.status, JSON.stringify(job)).toBe(202);
      const done = await api.waitJob(job.id, token);
      expect(done.state, JSON.stringify(done)).toBe('succeeded');
      return done.result as { note?: string; id: string };
    };
    const result = await run({ backupId: 'latest' });
    expect(result.id).toBe(filter.id);
    expect(result.note).toBe(
      `"latest" is the newest key dump, ${filter.id} (filter:secrets); the newest raw dump is ${raw.id} (raw, revision ${raw.etcd!.revision}, taken ${raw.createdAt}): restore it with {"backupId": "${raw.id}"} (or "strategy": "raw")`,
    );
    expect(api.logs()).toContain('"msg":"latest is a filter: key dump, not every resource"');
    for (const body of [{ backupId: filter.id }, { backupId: 'latest', strategy: 'filter:secrets' }, { backupId: 'latest', strategy: 'raw' }]) {
      expect((await run(body)).note).toBeUndefined();
    }
  } finally {
    await api.stop();
  }
}, 60_000);
