#!/usr/bin/env node
// A/B of key-dump restores: builds (dist directories) take turns restoring the newest backup of --store into a fresh
// etcd each (order reversed every other round, so a machine getting busier or quieter favours none), and the CPU of the
// restore process (user+sys: what matters on 2 cores that etcd shares; wall times follow the machine's load), its
// peak RSS and keys/s are printed per run, then medians per build and the paired CPU differences against the first.
//
//   node bench/restore-ab.mjs --store /tmp/prof/store --runs 5 [--cluster bench] [--flags "--max-semi-space-size=2"] DIST_A DIST_B ...
//
// Without --flags each build runs with the node flags of its own launcher line. etcd's CPU during each restore and the
// wall time of the whole process are printed too (the wall time only means something on a quiet machine).
//
// A build of another commit: git archive <commit> src scripts package.json tsconfig*.json | tar -x -C DIR, link
// node_modules into DIR, npm run build there; pass DIR/dist.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startEtcd } from '../dist/demo/local-etcd.js';

const { values: opt, positionals: dists } = parseArgs({
  options: { store: { type: 'string' }, runs: { type: 'string', default: '5' }, flags: { type: 'string' }, cluster: { type: 'string' } },
  allowPositionals: true,
});
if (!opt.store || dists.length === 0) throw new Error('usage: restore-ab.mjs --store DIR [--runs N] [--flags "..."] DIST...');
// Without --flags, each build runs as its launcher line says (`#!/usr/bin/env -S node <flags>`), as the bins do.
const launcherFlags = (dist) => readFileSync(resolve(dist, 'main.js'), 'utf8').split('\n')[0].split(/\s+/).slice(3);
const flagsOf = (dist) => (opt.flags === undefined ? launcherFlags(dist) : opt.flags.split(' ').filter(Boolean));

/** CPU-s (user+sys) a process has used so far, from /proc. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function restoreOnce(dist) {
  const etcd = await startEtcd();
  try {
    const args = ['-f', '%U %S %M', process.execPath, ...flagsOf(dist), resolve(dist, 'main.js'), 'restore', 'latest'];
    const env = { ...process.env, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: opt.store, ...(opt.cluster && { RS_CLUSTER_NAME: opt.cluster }) };
    const etcdBefore = cpuSeconds(etcd.process.pid);
    const started = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', args, { env, encoding: 'utf8' });
    const wall = Number(process.hrtime.bigint() - started) / 1e9;
    const etcdCpu = cpuSeconds(etcd.process.pid) - etcdBefore;
    if (r.status !== 0) throw new Error(`restore failed: ${r.stderr}`);
    const [user, sys, rssKb] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
    const keysPerSecond = Number(/\((\d+) keys\/s\)/.exec(r.stdout)?.[1] ?? NaN);
    return { cpu: user + sys, etcdCpu, wall, rssMB: Math.round(rssKb / 1024), keysPerSecond, load: loadavg()[0] };
  } finally {
    await etcd.stop();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const results = new Map(dists.map((d) => [d, []]));
for (let round = 0; round < Number(opt.runs); round++) {
  for (const dist of round % 2 ? [...dists].reverse() : dists) {
    const r = await restoreOnce(dist);
    results.get(dist).push(r);
    console.log(JSON.stringify({ round, dist, ...r, cpu: +r.cpu.toFixed(2), etcdCpu: +r.etcdCpu.toFixed(2), wall: +r.wall.toFixed(2), load: +r.load.toFixed(1) }));
  }
}
const first = results.get(dists[0]);
for (const [dist, rs] of results) {
  const diffs = rs.map((r, i) => r.cpu - first[i].cpu);
  console.log(
    JSON.stringify({
      dist,
      runs: rs.length,
      medianCpu: +median(rs.map((r) => r.cpu)).toFixed(2),
      medianEtcdCpu: +median(rs.map((r) => r.etcdCpu)).toFixed(2),
      medianWall: +median(rs.map((r) => r.wall)).toFixed(2),
      medianRssMB: median(rs.map((r) => r.rssMB)),
      medianKeysPerSecond: median(rs.map((r) => r.keysPerSecond)),
      ...(dist !== dists[0] && { pairedCpuDiff: +median(diffs).toFixed(2), lowerInPairs: `${diffs.filter((d) => d < 0).length}/${diffs.length}` }),
    }),
  );
}
