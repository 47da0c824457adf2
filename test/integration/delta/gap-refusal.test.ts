import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DeltaManifest, Manifest } from '../../../src/archive/manifest.js';
import { runCli } from '../../helpers/cli.js';
import { historyOf, revisionOf, storeSegmentOf } from '../../helpers/delta-chain.js';
import { startEtcd, type TestEtcd } from '../../helpers/etcd.js';

let etcd: TestEtcd;
let work: string;
beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-gap-refusal-'));
});
afterAll(async () => {
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

// A chain whose middle segment was deleted (by hand, with --force): a revision the segment after the gap holds was
// refused as "beyond what was recorded", which sent the operator looking for changes never recorded rather than for
// the missing segment.
it('a revision recorded past a gap in a chain is refused as such, naming the gap and the revision that can be restored', async () => {
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store') };
  await etcd.ctl(['put', '/registry/configmaps/default/base', 'b']);
  const res = await runCli(['backup', '--json', '--strategy', 'snapshot'], env);
  expect(res.code, res.stderr).toBe(0);
  const base = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as Manifest;
  const from = base.etcd!.revision + 1;
  for (let i = 0; i < 9; i++) await etcd.ctl(['put', `/registry/configmaps/default/cm-${i}`, `v${i}`]);
  const to = await revisionOf(etcd);
  const events = await historyOf(etcd.endpoint, from, to, () => Date.now());
  const segments: DeltaManifest[] = [];
  for (const [a, b] of [[from, from + 2], [from + 3, from + 5], [from + 6, to]] as const) segments.push(await storeSegmentOf(env, { base, fromRevision: a, toRevision: b, events }));
  const middle = segments[1]!;
  const deleted = await runCli(['delete', middle.id, '--force'], env);
  expect(deleted.code, deleted.stderr).toBe(0);

  const past = to - 1;
  const refused = await runCli(['restore', 'latest', '--to', String(past), '--keys', '--dry-run'], env);
  expect(refused.code).toBe(1);
  expect(refused.stderr).not.toContain('is beyond what was recorded');
  expect(refused.stderr).toContain(
    `${past} was recorded (segment ${segments[2]!.id} holds revisions ${from + 6}..${to}) but lies past a gap: chain ${base.id} stops at ${from + 2}: revisions ${from + 3}..${from + 5} are missing between segment ${segments[0]!.id}`,
  );
  expect(refused.stderr).toContain(`revision ${from + 2} (--to ${from + 2}) is the newest state before the gap, or put the missing segment back`);
  // The first and the last revision of the segment after the gap alike (the newest recorded change is the one most
  // often asked for): a bound off by one said it 'beyond what was recorded' or 'in a gap'.
  for (const rev of [from + 6, to]) {
    const edge = await runCli(['restore', 'latest', '--to', String(rev), '--keys', '--dry-run'], env);
    expect(edge.code).toBe(1);
    expect(edge.stderr).toContain(`${rev} was recorded (segment ${segments[2]!.id} holds revisions ${from + 6}..${to}) but lies past a gap: chain ${base.id} stops at ${from + 2}`);
  }
  const inGap = await runCli(['restore', 'latest', '--to', String(from + 4), '--keys', '--dry-run'], env);
  expect(inGap.code).toBe(1);
  expect(inGap.stderr).toContain(`${from + 4} lies in a gap of the recording: chain ${base.id} stops at ${from + 2}`);
  // The revision it names restores.
  const named = await runCli(['restore', 'latest', '--to', String(from + 2), '--keys', '--dry-run'], env);
  expect(named.code, named.stderr).toBe(0);
}, 60_000);
