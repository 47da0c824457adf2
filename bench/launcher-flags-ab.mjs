#!/usr/bin/env node
// A/B of the launcher's node flags (dist/main.js's first line, which the image's ENTRYPOINT repeats): builds take
// turns (order reversed every other round, so a machine getting busier or quieter favours none) at the commands whose
// cost the flags move, and the CPU-s (user+sys, GNU time: steadier than wall times on shared cores) and peak RSS of
// each run are printed, then medians per build and case and the paired CPU differences against the first build.
//
//   node bench/launcher-flags-ab.mjs --etcd URL --empty-etcd URL --s3 URL --snapshot-file FILE [--runs 8] DIST_A DIST_B ...
//
// --etcd: an etcd holding the bench's data (node bench/lib/dataset.mjs's loadBenchDataset, 100k keys / 300 MB);
// --empty-etcd: one with no keys (the start-up of a backup); --s3: an s3rver (node --openssl-legacy-provider
// src/demo/s3rver-main.cjs PORT DIR backups) whose bucket `backups` is emptied through DIR between runs when --s3-dir
// is given; --snapshot-file: `etcdctl snapshot save` of --etcd (inspect FILE). Cases: a snapshot backup to a local
// store (default zstd), to S3, a raw key dump, `inspect FILE`, a backup of the empty etcd.
//
// Each build runs with the flags of its own launcher line, and Node's compile cache is keyed by those flags: build
// each variant with `npm run build` after editing src/main.ts's first line, then copy dist/ to a sibling folder of
// dist/ (dist-a, dist-b: the cache names node_modules by its path relative to the build), and pass those.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opt, positionals: dists } = parseArgs({
  options: {
    etcd: { type: 'string' },
    'empty-etcd': { type: 'string' },
    s3: { type: 'string' },
    's3-dir': { type: 'string' },
    'snapshot-file': { type: 'string' },
    runs: { type: 'string', default: '8' },
    cases: { type: 'string', default: 'local,s3,raw,inspect,empty' },
  },
  allowPositionals: true,
});
if (!opt.etcd || !opt['empty-etcd'] || !opt.s3 || !opt['snapshot-file'] || dists.length === 0) {
  throw new Error('usage: launcher-flags-ab.mjs --etcd URL --empty-etcd URL --s3 URL [--s3-dir DIR] --snapshot-file FILE [--runs N] DIST...');
}
const launcherFlags = (dist) => readFileSync(resolve(dist, 'main.js'), 'utf8').split('\n')[0].split(/\s+/).slice(3);
const store = join(tmpdir(), `rs-flags-ab-${process.pid}`);
const s3Env = { RS_S3_BUCKET: 'backups', RS_S3_ENDPOINT: opt.s3, ACCESS_KEY_ID: 'S3RVER', SECRET_ACCESS_KEY: 'S3RVER' };
const CASES = {
  local: { env: {}, args: ['backup'] },
  s3: { env: s3Env, args: ['backup'] },
  raw: { env: { RS_BACKUP_STRATEGY: 'raw' }, args: ['backup'] },
  inspect: { env: {}, args: ['inspect', resolve(opt['snapshot-file'])] },
  empty: { env: { RS_ETCD_ENDPOINTS: opt['empty-etcd'] }, args: ['backup'] },
};

/** One run of a case by a build, from an empty store, after a sync: CPU-s, wall s, peak RSS. */
function runOnce(dist, name) {
  rmSync(store, { recursive: true, force: true });
  mkdirSync(store);
  if (opt['s3-dir']) for (const f of readdirSync(join(opt['s3-dir'], 'backups'))) rmSync(join(opt['s3-dir'], 'backups', f), { recursive: true });
  spawnSync('sync');
  const c = CASES[name];
  const env = { ...process.env, RS_ETCD_ENDPOINTS: opt.etcd, RS_BACKUP_DIR: store, RS_CLUSTER_NAME: 'flags-ab', ...c.env };
  const args = ['-f', '%e %U %S %M', process.execPath, ...launcherFlags(dist), resolve(dist, 'main.js'), ...c.args];
  const r = spawnSync('/usr/bin/time', args, { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${name} with ${dist} failed: ${r.stderr}`);
  const [wall, user, sys, rssKb] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { cpu: +(user + sys).toFixed(2), wall, rssMB: Math.round(rssKb / 1024), load: +loadavg()[0].toFixed(1) };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const cases = opt.cases.split(',');
const results = new Map(cases.flatMap((c) => dists.map((d) => [`${c} ${d}`, []])));
for (let round = 0; round < Number(opt.runs); round++) {
  for (const name of cases) {
    for (const dist of round % 2 ? [...dists].reverse() : dists) {
      const r = runOnce(dist, name);
      results.get(`${name} ${dist}`).push(r);
      console.log(JSON.stringify({ round, case: name, dist, ...r }));
    }
  }
}
rmSync(store, { recursive: true, force: true });
for (const name of cases) {
  const first = results.get(`${name} ${dists[0]}`);
  for (const dist of dists) {
    const rs = results.get(`${name} ${dist}`);
    const diffs = rs.map((r, i) => r.cpu - first[i].cpu);
    const paired = dist === dists[0] ? {} : { pairedCpuDiff: +median(diffs).toFixed(2), lowerInPairs: `${diffs.filter((d) => d < 0).length}/${diffs.length}` };
    const summary = { medianCpu: +median(rs.map((r) => r.cpu)).toFixed(2), medianWall: +median(rs.map((r) => r.wall)).toFixed(2), maxRssMB: Math.max(...rs.map((r) => r.rssMB)) };
    console.log(JSON.stringify({ case: name, dist, flags: launcherFlags(dist).join(' '), runs: rs.length, ...summary, ...paired }));
  }
}
