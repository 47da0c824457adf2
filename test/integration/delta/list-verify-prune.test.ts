import { appendFile, mkdtemp, readdir, rm, truncate, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DeltaManifest, Manifest } from '../../../src/archive/manifest.js';
import { loadConfig } from '../../../src/config/load-config.js';
import type { DeltaEvent } from '../../../src/core/delta-event.js';
import { createLogger } from '../../../src/log.js';
import { storeSegment } from '../../../src/ops/store-segment.js';
import { BackupRepository } from '../../../src/store/backup-repository.js';
import { LocalStore } from '../../../src/store/local-store.js';
import { startEtcd, type TestEtcd } from '../../helpers/etcd.js';
import { runInProcess } from '../../helpers/in-process.js';

let etcd: TestEtcd;
let store: string;
let env: Record<string, string>;
let repo: BackupRepository;
const bases: Manifest[] = [];
const chains = new Map<string, DeltaManifest[]>();

/** Two segments after each of three full backups, stored as `run` stores them. */
beforeAll(async () => {
  etcd = await startEtcd();
  store = await mkdtemp(join(tmpdir(), 'rs-delta-list-'));
  env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store };
  repo = new BackupRepository(new LocalStore(store), 'default');
  const config = loadConfig(env).config!;
  const ctx = { config, log: createLogger('silent') };
  for (let b = 0; b < 3; b++) {
    await etcd.ctl(['put', `/registry/x/${b}`, 'v']);
    const base = JSON.parse((await runInProcess(['backup', '--json'], env)).stdout) as Manifest;
    bases.push(base);
    const segs: DeltaManifest[] = [];
    let from = base.etcd!.revision + 1;
    for (let s = 0; s < 2; s++) {
      const events: DeltaEvent[] = [0, 1].map((i) => ({ type: 'put', key: Buffer.from(`/registry/y/${i}`), value: Buffer.from(`${b}${s}${i}`), createRevision: from, modRevision: from + i, version: 1 + i, observedAt: Date.now() }));
      segs.push(await storeSegment(ctx, repo, {}, { base: base.id, baseRevision: base.etcd!.revision, etcdVersion: '3.4' }, { fromRevision: from, toRevision: from + 1, events, bytes: 0, reason: 'interval' }));
      from += 2;
      await new Promise((r) => setTimeout(r, 5));
    }
    chains.set(base.id, segs);
  }
});
afterAll(async () => {
  await etcd?.stop();
  await rm(store, { recursive: true, force: true });
});

it('list shows the segments with their chain fields, newest first', async () => {
  const listed = JSON.parse((await runInProcess(['list', '--json'], env)).stdout) as Array<Manifest & Partial<DeltaManifest>>;
  expect(listed).toHaveLength(9);
  expect(listed.map((m) => m.createdAt)).toEqual([...listed.map((m) => m.createdAt)].sort().reverse());
  const seg = chains.get(bases[2]!.id)![1]!;
  expect(listed[0]).toMatchObject({ id: seg.id, strategy: 'delta', contentType: 'delta-events', base: bases[2]!.id, fromRevision: seg.fromRevision, toRevision: seg.toRevision, events: 2 });
  expect(listed[0]!.firstEventAt).toBeDefined();
  const text = (await runInProcess(['list'], env)).stdout;
  expect(text).toContain(`delta of ${bases[2]!.id} (2 changes)`);
  expect(text).toContain(`${seg.fromRevision}..${seg.toRevision}`);
});

it('verify checks one segment, and --chain the base, every segment and their contiguity', async () => {
  const [s1, s2] = chains.get(bases[1]!.id)!;
  const one = await runInProcess(['verify', s1!.id], env);
  expect(one.code).toBe(0);
  expect(one.stdout).toMatch(/ok  \tcontent\tdelta-events ok/);
  const chain = await runInProcess(['verify', bases[1]!.id, '--chain'], env);
  expect(chain.code, chain.stderr).toBe(0);
  expect(chain.stdout).toContain(`ok  \tchain\t2 segments, 4 changes, revisions up to ${s2!.toRevision} restorable`);

  // A damaged segment fails both; a missing one breaks the chain, named.
  await appendFile(join(store, 'default', s2!.artifact), 'x');
  const damaged = await runInProcess(['verify', s2!.id], env);
  expect(damaged.code).toBe(1);
  expect(damaged.stderr).toContain(`backup ${s2!.id} failed verification`);
  const broken = await runInProcess(['verify', bases[1]!.id, '--chain'], env);
  expect(broken.stderr).toContain(`the chain of ${bases[1]!.id} failed verification: backup ${s2!.id}`);
  // A restore refuses the damaged segment: the chain is restorable up to the one before it, no further.
  expect(broken.stdout).toContain(`FAIL\tchain\t2 segments, 4 changes, revisions up to ${s1!.toRevision} restorable`);
  await truncate(join(store, 'default', s2!.artifact), s2!.sizeBytes);
  // A damaged full backup: nothing of its chain is restorable, not even its own revision's state by the segments.
  const baseArtifact = join(store, 'default', bases[1]!.artifact);
  await appendFile(baseArtifact, 'x');
  const damagedBase = await runInProcess(['verify', bases[1]!.id, '--chain'], env);
  expect(damagedBase.code).toBe(1);
  expect(damagedBase.stdout).toContain(`FAIL\tchain\t2 segments, 4 changes, revisions up to ${bases[1]!.etcd!.revision} restorable`);
  await truncate(baseArtifact, bases[1]!.sizeBytes);
  expect((await runInProcess(['verify', bases[1]!.id, '--chain'], env)).code).toBe(0);
  // Every artifact whole, a segment gone: the gap alone fails the chain.
  await unlink(join(store, 'default', `${s1!.id}.manifest.json`));
  const gap = await runInProcess(['verify', s2!.id, '--chain'], env);
  expect(gap.code).toBe(1);
  expect(gap.stdout).toContain(`ok  \t${s2!.id}\t`);
  expect(gap.stdout).toContain(`FAIL\tchain\t1 segment, 2 changes, revisions up to ${bases[1]!.etcd!.revision} restorable`);
  expect(gap.stdout).toContain(`FAIL\tchain\tthe first segment ${s2!.id} starts at revision ${s2!.fromRevision}, not at the base's revision + 1 (${bases[1]!.etcd!.revision + 1})`);
});

it('delete refuses a segment from the middle of a chain without --force: the later ones would be past a gap', async () => {
  const [first, second] = chains.get(bases[0]!.id)!;
  const refused = await runInProcess(['delete', first!.id], env);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(`segment ${first!.id} holds revisions ${first!.fromRevision}..${first!.toRevision} of the chain of ${bases[0]!.id}: deleting it would leave 1 later segment past a gap`);
  expect(await readdir(join(store, 'default'))).toContain(`${first!.id}.manifest.json`);
  // With the later one too, nothing is stranded.
  const together = await runInProcess(['delete', second!.id, first!.id], env);
  expect(together.code, together.stderr).toBe(0);
  const files = await readdir(join(store, 'default'));
  expect(files).not.toContain(`${first!.id}.manifest.json`);
  expect(files).not.toContain(`${second!.id}.manifest.json`);
});

it('retention counts full backups and deletes each with its segments; the newest chain stays whole', async () => {
  const dry = JSON.parse((await runInProcess(['prune', '--dry-run', '--json'], { ...env, RS_RETENTION_KEEP_LAST: '1' })).stdout) as {
    deleted: string[];
    kept: string[];
    decisions: Array<{ id: string; reasons: string[] }>;
  };
  const newest = bases[2]!;
  expect(dry.kept.sort()).toEqual([newest.id, ...chains.get(newest.id)!.map((s) => s.id)].sort());
  // The base of the newest chain is protected as such (README, Retention), besides being the newest.
  expect(dry.decisions.find((d) => d.id === newest.id)!.reasons).toEqual(['newest', 'protected', 'last']);
  const res = await runInProcess(['prune'], { ...env, RS_RETENTION_KEEP_LAST: '1' });
  expect(res.code, res.stderr).toBe(0);
  const files = (await readdir(join(store, 'default'))).sort();
  const kept = [newest, ...chains.get(newest.id)!];
  // The artifact whose manifest the test above removed is an orphan: retention removes it once it is an hour old.
  const orphan = chains.get(bases[1]!.id)![0]!.artifact;
  expect(files).toEqual([orphan, ...kept.flatMap((m) => [m.artifact, `${m.id}.manifest.json`])].sort());
});


it('verify --chain of latest checks the newest chain, not a newer render listing, which starts none', async () => {
  const listing = JSON.parse((await runInProcess(['backup', '--strategy', 'render', '--json'], env)).stdout.trim().split('\n').at(-1)!) as Manifest;
  const newest = bases[2]!;
  const chain = await runInProcess(['verify', '--chain'], env);
  // Before: "latest" was the listing, and its one line passed as a chain: 'ok  chain  0 segments, 0 changes, revisions
  // up to N restorable' of a backup that restores nothing.
  expect(chain.code, chain.stderr).toBe(0);
  expect(chain.stdout).toContain(`ok  \t${newest.id}\tfull backup`);
  expect(chain.stdout).toContain(`ok  \tchain\t2 segments, 4 changes, revisions up to ${chains.get(newest.id)![1]!.toRevision} restorable`);
  const named = await runInProcess(['verify', listing.id, '--chain'], env);
  expect(named.code).toBe(1);
  expect(named.stdout).toBe('');
  expect(named.stderr).toContain(`backup ${listing.id} is a render listing, which starts no chain of changes: verify it without --chain`);
});
