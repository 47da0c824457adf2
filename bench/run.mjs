#!/usr/bin/env node
// `npm run bench`: reshifter against the tools operators use today, side by side in one run, on a throwaway etcd
// filled with a Kubernetes-like dataset. Medians of several runs; peak RSS of every measured process.
//
//   npm run bench                                   # ~100k keys, ~300 MB of values, 3 runs
//   npm run bench -- --large                        # ~340k keys, ~1 GB
//   npm run bench -- --keys 50000 --size-mb 100 --runs 5 --only snapshot,raw
//
//   npm run bench -- --name dev --out /tmp          # results as /tmp/dev.json and /tmp/dev.md
//   npm run bench -- --only pitr --pitr-events 5000 # point-in-time restore: base + recorded changes (default keys / 2)
//
// Writes bench/results/latest.json and bench/results/latest.md (the README quotes the table). Datasets live in a
// temporary directory (--work, default $TMPDIR/rs-bench) and are removed at the end; nothing is written to the repo
// but the results.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { startEtcd } from '../dist/demo/local-etcd.js';
import { freePort } from '../dist/demo/free-port.js';
import { benchDataset, loadBenchDataset } from './lib/dataset.mjs';
import { measure, median, rssSource } from './lib/measure.mjs';
import { benchPointInTime } from './lib/pitr.mjs';
import { renderMarkdown } from './lib/report.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(ROOT, 'dist', 'main.js');
const MB = 1024 * 1024;

const { values: opt } = parseArgs({
  options: {
    keys: { type: 'string' },
    'size-mb': { type: 'string' },
    runs: { type: 'string', default: process.env.BENCH_RUNS ?? '3' },
    large: { type: 'boolean', default: false },
    only: { type: 'string' },
    work: { type: 'string', default: join(tmpdir(), 'rs-bench') },
    out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    name: { type: 'string', default: 'latest' },
    'pitr-events': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  // The usage is the comment at the top of this file.
  const usage = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1).filter((l) => l.startsWith('//'));
  process.stdout.write(`${usage.map((l) => l.replace(/^\/\/ ?/, '')).join('\n')}\n`);
  process.exit(0);
}
const sizeMB = Number(opt['size-mb'] ?? process.env.BENCH_SIZE_MB ?? (opt.large ? 1024 : 300));
const keys = Number(opt.keys ?? process.env.BENCH_KEYS ?? Math.round((sizeMB / 300) * 100_000));
const runs = Number(opt.runs);
const only = opt.only ? new Set(opt.only.split(',')) : undefined;
const want = (section) => !only || only.has(section);
const work = opt.work;

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);
const which = (cmd) => {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
};

if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: run `npm run build` (npm run bench does)');
// reshifter runs as its launcher line says (`#!/usr/bin/env -S node <flags>`), as the image and the bins do.
const NODE_FLAGS = readFileSync(MAIN, 'utf8').split('\n')[0].split(/\s+/).slice(3);
const help = execFileSync(process.execPath, [MAIN, 'help'], { encoding: 'utf8' });
const has = { restore: /^\s+restore\b/m.test(help), inspect: /^\s+inspect\b/m.test(help) };
const tools = { etcdctl: which('etcdctl'), gzip: which('gzip'), aws: which('aws'), zstd: which('zstd') };
if (!tools.zstd) log('zstd CLI not found: the zstd reference cases are skipped (apt-get install zstd)');
// zstd levels next to the default (level 1), for choosing it; BENCH_ZSTD_LEVELS=2,3 adds cases.
const ZSTD_LOCAL = (process.env.BENCH_ZSTD_LEVELS ?? '3').split(',').filter(Boolean).map((l) => [`zstd -${l}`, { RS_COMPRESSION: 'zstd', RS_COMPRESSION_LEVEL: l }]);
for (const t of ['etcdctl', 'gzip']) if (!tools[t]) throw new Error(`${t} is needed (apt-get install etcd-client gzip)`);
if (!tools.aws) log('aws CLI not found: the S3 comparisons are skipped (pip install awscli)');

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const results = {};
/** Records one measurement of `name`. */
const record = (name, m, extra = {}) => {
  const r = (results[name] ??= { ms: [], cpuMs: [], rssMB: [], ownRssMB: [], ...extra });
  r.ms.push(m.ms);
  if (m.cpuMs !== undefined) r.cpuMs.push(m.cpuMs);
  if (m.serversCpuMs !== undefined) (r.serversCpuMs ??= []).push(m.serversCpuMs);
  r.rssMB.push(m.rssMB);
  if (m.ownRssMB !== undefined) r.ownRssMB.push(m.ownRssMB);
  Object.assign(r, extra);
  const cpu = m.cpuMs !== undefined ? ` (cpu ${(m.cpuMs / 1000).toFixed(2)} s)` : '';
  const own = m.ownRssMB !== undefined && m.rssMB > m.ownRssMB * 1.1 ? ` (itself ${m.ownRssMB.toFixed(0)} MB)` : '';
  log(`  ${name.padEnd(30)} ${(m.ms / 1000).toFixed(2).padStart(7)} s${cpu}  ${m.rssMB.toFixed(0).padStart(5)} MB RSS${own}`);
};

// Other work on the machine distorts wall times (CPU times much less): the report states the load around the run.
const loadBefore = loadavg()[0];
const etcdArgs = ['--quota-backend-bytes', String(16 * 1024 * MB), '--snapshot-count', '1000000'];
log(`starting etcd and loading ${keys} keys, ~${sizeMB} MB of values`);
const etcd = await startEtcd({ args: etcdArgs });
const cleanups = [() => etcd.stop()];
let s3;
try {
  const loadStarted = Date.now();
  const client = new Etcd3({ hosts: etcd.endpoint, grpcOptions: { 'grpc.max_send_message_length': 16 * MB } });
  const loaded = await loadBenchDataset(client, benchDataset({ keys, bytes: sizeMB * MB }), {
    onProgress: (n, b) => log(`  loaded ${n} keys, ${(b / MB).toFixed(0)} MB`),
  });
  client.close();
  const status = JSON.parse(await etcd.ctl(['endpoint', 'status', '-w', 'json']))[0].Status;
  const dataset = { keys: loaded.keys, valueBytes: loaded.bytes, dbSizeBytes: status.dbSize, loadMs: Date.now() - loadStarted, etcdVersion: status.version };
  log(`loaded ${dataset.keys} keys, ${(dataset.valueBytes / MB).toFixed(0)} MB of values; etcd db ${(dataset.dbSizeBytes / MB).toFixed(0)} MB in ${(dataset.loadMs / 1000).toFixed(1)} s`);

  if (tools.aws) {
    s3 = await startS3(join(work, 's3'));
    cleanups.unshift(() => s3.stop());
  }
  const base = { PATH: process.env.PATH, HOME: process.env.HOME ?? '/root', LOG_LEVEL: 'warn', RS_ETCD_ENDPOINTS: etcd.endpoint, RS_CLUSTER_NAME: 'bench' };
  const localEnv = (dir, extra = {}) => ({ ...base, RS_BACKUP_DIR: dir, ...extra });
  const s3Env = (extra = {}) => ({
    ...base, RS_S3_BUCKET: 'bench', RS_S3_ENDPOINT: s3.endpoint, RS_S3_REGION: 'us-east-1', RS_S3_FORCE_PATH_STYLE: 'true',
    ACCESS_KEY_ID: 'S3RVER', SECRET_ACCESS_KEY: 'S3RVER', ...extra,
  });
  const awsEnv = { PATH: process.env.PATH, HOME: process.env.HOME ?? '/root', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
  const ctl = (args, opts = {}) => measure(tools.etcdctl, ['--endpoints', etcd.endpoint, '--command-timeout', '30m', ...args], { env: { ...process.env, ETCDCTL_API: '3' }, ...opts });
  const rs = (args, env) => measure(process.execPath, [...NODE_FLAGS, MAIN, ...args], { env });
  // The S3 cases share the 2 cores with etcd and s3rver: their CPU during a case is counted too (the report's floor).
  const withServers = async (m) => {
    const before = serversCpuMs();
    const r = await m();
    return { ...r, serversCpuMs: serversCpuMs() - before };
  };
  const serversCpuMs = () => processCpuMs(etcd.process.pid) + (s3 ? processCpuMs(s3.pid) : 0);
  const aws = (args) => withServers(() => measure(tools.aws, ['--endpoint-url', s3.endpoint, ...args], { env: awsEnv }));
  const snap = join(work, 'snap.db');
  const store = join(work, 'store');
  const sizeOfStore = () => dirSize(store);
  let rawBackupDir;
  let rawSupported = true;
  let pipelineMs = [];
  let pipelineRss = [];

  // One untimed snapshot first: the first read of a freshly loaded etcd is slower for every case (its backend is not yet
  // in the page cache), and would land on whichever case runs first.
  if (want('snapshot') || want('raw')) {
    log('warm-up: one untimed etcdctl snapshot save');
    await ctl(['snapshot', 'save', snap]);
    rmSync(snap, { force: true });
  }
  for (let run = 1; run <= runs; run++) {
    log(`run ${run}/${runs}`);
    if (want('snapshot')) {
      rmSync(snap, { force: true });
      record('etcdctl snapshot save', await withServers(() => ctl(['snapshot', 'save', snap])), { bytes: statSync(snap).size });
      // `default` runs with no compression variable set: what a new backup gets.
      for (const [name, extra] of [['default', {}], ['gzip', { RS_COMPRESSION: 'gzip' }], ['none', { RS_COMPRESSION: 'none' }], ['gzip -1', { RS_COMPRESSION: 'gzip', RS_COMPRESSION_LEVEL: '1' }], ...ZSTD_LOCAL]) {
        rmSync(store, { recursive: true, force: true });
        const m = await rs(['backup'], localEnv(store, extra));
        record(`rs snapshot local ${name}`, m, { bytes: sizeOfStore() });
      }
      const gz = `${snap}.gz`;
      const g = await measure(tools.gzip, ['-c', snap], { stdoutFile: gz });
      record('gzip -6', g, { bytes: statSync(gz).size });
      // The size a compressed backup must not exceed, and the compressed file `aws s3 cp` uploads for the zstd case.
      const g3 = await measure(tools.gzip, ['-3', '-c', snap], { stdoutFile: `${snap}.3.gz` });
      record('gzip -3', g3, { bytes: statSync(`${snap}.3.gz`).size });
      rmSync(`${snap}.3.gz`, { force: true });
      const zst = `${snap}.zst`;
      if (tools.zstd) record('zstd -1', await measure(tools.zstd, ['-1', '-T1', '-q', '-c', snap], { stdoutFile: zst }), { bytes: statSync(zst).size });
      if (s3) {
        for (const compression of ['default', 'gzip', 'none']) {
          record(`rs snapshot s3 ${compression}`, await withServers(() => rs(['backup'], s3Env(compression === 'default' ? {} : { RS_COMPRESSION: compression }))));
          s3.clear();
        }
        record('aws s3 cp snapshot', await aws(['s3', 'cp', '--only-show-errors', snap, 's3://bench/cmp/snap.db']));
        const up = await aws(['s3', 'cp', '--only-show-errors', gz, 's3://bench/cmp/snap.db.gz']);
        record('aws s3 cp snapshot.gz', up);
        if (tools.zstd) record('aws s3 cp snapshot.zst', await aws(['s3', 'cp', '--only-show-errors', zst, 's3://bench/cmp/snap.db.zst']));
        s3.clear();
        const save = results['etcdctl snapshot save'];
        pipelineMs.push(save.ms.at(-1) + g.ms + up.ms);
        pipelineRss.push(Math.max(save.rssMB.at(-1), g.rssMB, up.rssMB));
      }
      rmSync(gz, { force: true });
      rmSync(zst, { force: true });
    }
    if (want('raw')) {
      const out = join(work, 'get.json');
      record('etcdctl get --prefix -w json', await ctl(['get', '', '--prefix', '-w', 'json'], { stdoutFile: out }), { bytes: statSync(out).size });
      rmSync(out, { force: true });
      if (rawSupported) {
        for (const compression of ['none', 'gzip', 'zstd']) {
          rmSync(store, { recursive: true, force: true });
          const m = await rs(['backup'], localEnv(store, { RS_COMPRESSION: compression, RS_BACKUP_STRATEGY: 'raw' })).catch((err) => err);
          if (m instanceof Error) {
            log(`raw dumps are not available: ${m.message.split('\n').slice(-3).join(' ')}`);
            rawSupported = false;
            break;
          }
          record(`rs raw local ${compression}`, m, { bytes: sizeOfStore() });
          // The restore reads the dump a new backup gets: the default compression (zstd).
          if (compression === 'zstd' && rawBackupDir === undefined) {
            rawBackupDir = join(work, 'raw-store');
            rmSync(rawBackupDir, { recursive: true, force: true });
            execFileSync('cp', ['-a', store, rawBackupDir]);
          }
        }
      }
    }
    if (want('restore') && has.restore && rawBackupDir) {
      // etcd's own apply rate first (the ceiling: plain transactions of puts, 128 ops / 1 MiB, 4 in flight, from memory),
      // then reshifter's restore of the dump, each into a fresh empty etcd.
      for (const which of ['loader', 'rs']) {
        const empty = await startEtcd({ args: etcdArgs });
        try {
          if (which === 'loader') {
            const out = join(work, 'loader.json');
            const m = await measure(process.execPath, [join(ROOT, 'bench', 'txn-loader.mjs'), '--endpoint', empty.endpoint, '--keys', String(keys), '--size-mb', String(sizeMB)], { stdoutFile: out });
            const l = JSON.parse(readFileSync(out, 'utf8'));
            // Its process also generates the dataset (untimed): the time that counts is that of the transactions.
            record('etcd txn loader', { ...m, ms: l.ms, cpuMs: undefined }, { keys: l.keys, keysPerSecond: l.keysPerSecond });
          } else {
            const out = join(work, 'restore.txt');
            const m = await measure(process.execPath, [...NODE_FLAGS, MAIN, 'restore', 'latest'], { env: { ...base, RS_ETCD_ENDPOINTS: empty.endpoint, RS_BACKUP_DIR: rawBackupDir }, stdoutFile: out });
            const count = Number(JSON.parse(await empty.ctl(['get', '', '--prefix', '--limit', '1', '-w', 'json'])).count ?? 0);
            // The whole process (start, download and check, passes) against the keys, and the restore's own rate (from its first write).
            const own = /\(([\d,]+) keys\/s\)/.exec(readFileSync(out, 'utf8'));
            record('rs restore raw dump', m, { keys: count, keysPerSecond: Math.round(count / (m.ms / 1000)), ...(own && { ownKeysPerSecond: [...(results['rs restore raw dump']?.ownKeysPerSecond ?? []), Number(own[1].replace(/,/g, ''))] }) });
          }
        } finally {
          await empty.stop();
        }
      }
    }
    if (want('inspect')) {
      if (!existsSync(snap)) await ctl(['snapshot', 'save', snap]);
      record('etcdctl snapshot status', await measure(tools.etcdctl, ['snapshot', 'status', snap, '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' } }));
      if (has.inspect) record('rs inspect (offline)', await rs(['inspect', snap, '--json'], base));
    }
    rmSync(store, { recursive: true, force: true });
  }
  // Last: it changes the dataset. Issue #13: a 100k-key base and 50k recorded changes, restored to the last change.
  if (want('pitr') && has.restore) {
    const events = Number(opt['pitr-events'] ?? Math.round(keys / 2));
    await benchPointInTime({ etcd, startEtcd, etcdArgs, rs, record, base, work, events, log, main: MAIN, nodeFlags: NODE_FLAGS });
  }
  if (pipelineMs.length > 0) results['etcdctl save + gzip + aws s3 cp'] = { ms: pipelineMs, cpuMs: [], rssMB: pipelineRss };

  // Summaries and targets.
  const summary = Object.fromEntries(
    Object.entries(results).map(([name, r]) => [name, { ...r, medianMs: median(r.ms), ...(r.cpuMs?.length && { medianCpuMs: median(r.cpuMs) }), ...(r.serversCpuMs?.length && { medianServersCpuMs: median(r.serversCpuMs) }), peakRssMB: Math.max(...r.rssMB), ...(r.ownRssMB?.length && { peakOwnRssMB: Math.max(...r.ownRssMB) }) }]),
  );
  const t = (name) => summary[name]?.medianMs;
  const targets = [];
  const target = (what, value, limit, detail) => {
    if (value === undefined || Number.isNaN(value)) return;
    // A rate is met at or above its limit, times, sizes and memory at or below.
    targets.push({ what, value: Number(value.toFixed(4)), limit, met: detail === 'keys/s' ? value >= limit : value <= limit, detail });
  };
  // Issue #16: compressing with the default settings costs (almost) nothing, and stores no more than gzip -3.
  target('snapshot to local store (default: zstd) / etcdctl snapshot save', t('rs snapshot local default') / t('etcdctl snapshot save'), 1.1, 'time ratio');
  target('stored size of the default snapshot backup / gzip -3 of the snapshot', summary['rs snapshot local default']?.bytes / summary['gzip -3']?.bytes, 1.0, 'size ratio');
  target('snapshot to S3 (default: zstd) / max(etcdctl snapshot save, aws s3 cp snapshot.zst)', t('rs snapshot s3 default') / Math.max(t('etcdctl snapshot save'), t('aws s3 cp snapshot.zst') ?? NaN), 1.2, 'time ratio');
  target('snapshot to S3 (default: zstd) / (etcdctl snapshot save + gzip + aws s3 cp)', t('rs snapshot s3 default') / t('etcdctl save + gzip + aws s3 cp'), 1.0, 'time ratio');
  for (const c of ['gzip', 'none']) {
    target(`snapshot to local store (${c}) / etcdctl snapshot save`, t(`rs snapshot local ${c}`) / t('etcdctl snapshot save'), 1.3, 'time ratio');
    const cp = c === 'gzip' ? 'aws s3 cp snapshot.gz' : 'aws s3 cp snapshot';
    target(`snapshot to S3 (${c}) / max(etcdctl snapshot save, ${cp})`, t(`rs snapshot s3 ${c}`) / Math.max(t('etcdctl snapshot save'), t(cp) ?? NaN), 1.2, 'time ratio');
  }
  for (const c of ['none', 'gzip', 'zstd']) target(`raw dump (${c}) / etcdctl get --prefix`, t(`rs raw local ${c}`) / t('etcdctl get --prefix -w json'), 1.0, 'time ratio');
  // Issue #16: a restore of the dump (the whole process, 100k keys) at 25k keys/s, limited by etcd's own apply rate.
  const restoreRate = summary['rs restore raw dump'] && summary['rs restore raw dump'].keys / (t('rs restore raw dump') / 1000);
  target('restore of the raw dump, keys per second of the whole process', restoreRate, 25_000, 'keys/s');
  target('restore of the raw dump (whole process) / etcd txn loader (etcd\'s own apply rate)', t('rs restore raw dump') / t('etcd txn loader'), 1.0, 'time ratio');
  target('inspect (offline status) / etcdctl snapshot status', t('rs inspect (offline)') / t('etcdctl snapshot status'), 1.5, 'time ratio');
  // reshifter's own memory: a point-in-time restore into a data dir also runs a temporary etcd, whose RSS is etcd's.
  const rsPeak = Math.max(...Object.entries(summary).filter(([n]) => n.startsWith('rs ')).map(([, r]) => r.peakOwnRssMB ?? r.peakRssMB));
  target('peak RSS of any reshifter process itself (MB)', rsPeak, 200, 'MB');

  const report = {
    date: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 1024 ** 3), node: process.version, nodeFlags: NODE_FLAGS.join(' '), rssSource, loadAverage: { before: loadBefore, after: loadavg()[0] } },
    dataset,
    runs,
    results: summary,
    targets,
  };
  mkdirSync(opt.out, { recursive: true });
  writeFileSync(join(opt.out, `${opt.name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  const md = renderMarkdown(report);
  writeFileSync(join(opt.out, `${opt.name}.md`), md);
  process.stdout.write(md);
} finally {
  for (const c of cleanups) await c().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}

/** Total size of the files under `dir`. */
function dirSize(dir) {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += statSync(join(e.parentPath ?? e.path, e.name)).size;
  return n;
}

/** user+sys CPU of a running process so far, in ms (/proc/PID/stat, clock ticks of 10 ms); 0 once it is gone. */
function processCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** s3rver in its own process (as the tests run it), with a way to drop every stored object between runs. */
async function startS3(dir) {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const proc = spawn(process.execPath, ['--openssl-legacy-provider', join(ROOT, 'src', 'demo', 's3rver-main.cjs'), String(port), dir, 'bench'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => d.toString().includes('ready') && resolve());
    proc.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    pid: proc.pid,
    clear() {
      const bucket = join(dir, 'bench');
      for (const e of readdirSync(bucket)) if (!e.startsWith('.')) rmSync(join(bucket, e), { recursive: true, force: true });
    },
    async stop() {
      proc.kill('SIGKILL');
    },
  };
}
