// The benchmark's markdown: one table of every measurement, then the targets, met or missed.
import { median } from './measure.mjs';
const MB = 1024 * 1024;

const ZSTD_CASES = Array.from({ length: 19 }, (_, i) => `rs snapshot local zstd -${i + 1}`);
const SECTIONS = [
  ['snapshot', ['etcdctl snapshot save', 'rs snapshot local default', ...ZSTD_CASES, 'rs snapshot local none', 'rs snapshot local gzip', 'rs snapshot local gzip -1', 'gzip -6', 'gzip -3', 'zstd -1', 'aws s3 cp snapshot', 'aws s3 cp snapshot.gz', 'aws s3 cp snapshot.zst', 'rs snapshot s3 none', 'rs snapshot s3 default', 'rs snapshot s3 gzip', 'etcdctl save + gzip + aws s3 cp']],
  ['raw', ['etcdctl get --prefix -w json', 'rs raw local none', 'rs raw local gzip', 'rs raw local zstd']],
  ['restore', ['etcd txn loader', 'rs restore raw dump']],
  ['inspect', ['etcdctl snapshot status', 'rs inspect (offline)']],
  ['pitr', ['rs restore --to data dir', 'rs restore --to keys']],
];
const LABELS = {
  'etcdctl snapshot save': '`etcdctl snapshot save`',
  'rs snapshot local none': 'reshifter `snapshot` → local store, no compression',
  'rs snapshot local default': 'reshifter `snapshot` → local store, default settings (zstd level 1)',
  'rs snapshot local gzip': 'reshifter `snapshot` → local store, gzip (level 3)',
  'rs snapshot local gzip -1': 'reshifter `snapshot` → local store, gzip level 1',
  'gzip -6': '`gzip -c snapshot.db` (level 6)',
  'gzip -3': '`gzip -3 -c snapshot.db`',
  'zstd -1': '`zstd -1 -T1 -c snapshot.db`',
  'aws s3 cp snapshot': '`aws s3 cp snapshot.db` → s3rver',
  'aws s3 cp snapshot.gz': '`aws s3 cp snapshot.db.gz` → s3rver',
  'aws s3 cp snapshot.zst': '`aws s3 cp snapshot.db.zst` → s3rver',
  'rs snapshot s3 default': 'reshifter `snapshot` → S3 (s3rver), default settings (zstd level 1)',
  'rs snapshot s3 none': 'reshifter `snapshot` → S3 (s3rver), no compression',
  'rs snapshot s3 gzip': 'reshifter `snapshot` → S3 (s3rver), gzip',
  'etcdctl save + gzip + aws s3 cp': '`etcdctl snapshot save && gzip && aws s3 cp`',
  'etcdctl get --prefix -w json': '`etcdctl get "" --prefix -w json > file`',
  'rs raw local none': 'reshifter `raw` dump → local store, no compression',
  'rs raw local gzip': 'reshifter `raw` dump → local store, gzip',
  'rs raw local zstd': 'reshifter `raw` dump → local store, zstd',
  'etcd txn loader': 'etcd\'s own apply rate: plain txns of 128 puts, 4 in flight, from memory (bench/txn-loader.mjs)',
  'rs restore raw dump': 'reshifter `restore` of the raw dump (zstd) into an empty etcd, whole process',
  'etcdctl snapshot status': '`etcdctl snapshot status -w json`',
  'rs inspect (offline)': 'reshifter `inspect` (offline)',
  'rs restore --to data dir': 'reshifter `restore latest --to latest --data-dir`: snapshot base + recorded changes replayed in a temporary etcd',
  'rs restore --to keys': 'reshifter `restore latest --to latest`: raw dump base + recorded changes into an empty etcd',
};

export function renderMarkdown(r) {
  const d = r.dataset;
  const base = r.results['etcdctl snapshot save']?.medianMs;
  const lines = [
    `Dataset: ${d.keys.toLocaleString('en')} Kubernetes-like keys, ${(d.valueBytes / MB).toFixed(0)} MB of values, etcd ${d.etcdVersion} database ${(d.dbSizeBytes / MB).toFixed(0)} MB.`,
    `Machine: ${r.machine.cpus} cores (${r.machine.cpuModel ?? 'unknown'}), Node ${r.machine.node}${r.machine.nodeFlags ? ` (\`${r.machine.nodeFlags}\`, as the launcher runs it)` : ''}. Median of ${r.runs} run${r.runs === 1 ? '' : 's'} after one untimed snapshot, each case started after a \`sync\`; peak RSS is the largest of the runs (${r.machine.rssSource}, with the process's children; "itself": its own VmHWM, sampled).${r.machine.loadAverage ? ` Load average ${r.machine.loadAverage.before.toFixed(1)} before and ${r.machine.loadAverage.after.toFixed(1)} after the run (above ${r.machine.cpus}, other work shared the cores: wall times suffer from it more than CPU times).` : ''}`,
    '',
    '| what | median time | vs `etcdctl snapshot save` | median CPU (user+sys) | peak RSS | output |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const [, names] of SECTIONS) {
    for (const name of names) {
      const x = r.results[name];
      if (!x) continue;
      const own = x.ownKeysPerSecond?.length ? ` (${median(x.ownKeysPerSecond).toLocaleString('en')} from its first write)` : '';
      const extra = x.events ? `${x.keys.toLocaleString('en')} keys + ${x.events.toLocaleString('en')} changes` : x.keysPerSecond ? `${x.keys.toLocaleString('en')} keys, ${Math.round(x.keys / (x.medianMs / 1000)).toLocaleString('en')} keys/s${own}` : x.bytes ? `${(x.bytes / MB).toFixed(0)} MB` : '';
      const ratio = base ? `${(x.medianMs / base).toFixed(2)}x` : '';
      const cpu = x.medianCpuMs !== undefined ? `${(x.medianCpuMs / 1000).toFixed(2)} s` : '';
      const label = LABELS[name] ?? (name.startsWith('rs snapshot local zstd -') ? `reshifter \`snapshot\` → local store, zstd level ${name.slice(24)}` : name);
      // With the process's children (a temporary etcd) when they took much more than it did itself.
      const rss = x.peakOwnRssMB !== undefined && x.peakRssMB > x.peakOwnRssMB * 1.1 ? `${x.peakRssMB.toFixed(0)} MB (itself ${x.peakOwnRssMB.toFixed(0)} MB)` : `${x.peakRssMB.toFixed(0)} MB`;
      lines.push(`| ${label} | ${(x.medianMs / 1000).toFixed(2)} s | ${ratio} | ${cpu} | ${rss} | ${extra} |`);
    }
  }
  lines.push('', '| target | measured | limit | |', '|---|---:|---:|---|');
  // Two decimals always: a ratio of 1.2056 shown as "1.2x" next to a limit of 1.2x and "missed" reads as a contradiction.
  const show = (v, detail) => (detail === 'MB' ? `${v.toFixed(0)} MB` : detail === 'keys/s' ? `${Math.round(v).toLocaleString('en')} keys/s` : `${v.toFixed(2)}x`);
  for (const t of r.targets) lines.push(`| ${t.what} | ${show(t.value, t.detail)} | ${show(t.limit, t.detail)} | ${t.met ? 'met' : '**missed**'} |`);
  lines.push(...cpuFloor(r));
  lines.push('', `Reproduce: \`${r.command}\` (${r.date.slice(0, 10)}).`, '');
  return lines.join('\n');
}

/**
 * The CPU each S3 case took on the machine's cores, its own and that of the servers beside it (etcd, s3rver): their
 * sum over the cores is the least wall time the case can take here, whatever reshifter does.
 */
function cpuFloor(r) {
  const rows = Object.entries(r.results).filter(([, x]) => x.medianServersCpuMs !== undefined && x.medianCpuMs !== undefined);
  if (rows.length === 0) return [];
  const cores = r.machine.cpus;
  const lines = ['', `CPU on the ${cores} cores during the cases that share them with etcd and s3rver (medians; a wall time below (all CPU) / ${cores} is not possible here):`, '', '| what | itself | etcd + s3rver | all | all / cores | median time |', '|---|---:|---:|---:|---:|---:|'];
  for (const [name, x] of rows) {
    const all = x.medianCpuMs + x.medianServersCpuMs;
    const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
    lines.push(`| ${LABELS[name] ?? name} | ${s(x.medianCpuMs)} | ${s(x.medianServersCpuMs)} | ${s(all)} | ${s(all / cores)} | ${s(x.medianMs)} |`);
  }
  const [save, cp, ours] = ['etcdctl snapshot save', 'aws s3 cp snapshot.zst', 'rs snapshot s3 default'].map((n) => r.results[n]);
  if (save && cp && ours?.medianServersCpuMs !== undefined) {
    const limit = 1.2 * Math.max(save.medianMs, cp.medianMs);
    const floor = (ours.medianCpuMs + ours.medianServersCpuMs) / cores;
    lines.push('', `The S3 target's limit is ${(limit / 1000).toFixed(2)} s (1.2 × the slower of save and \`aws s3 cp\` of the .zst, each measured alone); the default S3 case needs ${(floor / 1000).toFixed(2)} s of the ${cores} cores at the least, with etcd and s3rver on them.`);
  }
  return lines;
}
