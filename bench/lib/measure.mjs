// Runs one process and measures its wall time and peak RSS. Peak RSS comes from GNU time's %M (the kernel's
// ru_maxrss of the child, exact); without /usr/bin/time (`apt-get install time`) it is sampled from
// /proc/<pid>/status VmHWM every 20 ms. ru_maxrss counts the measured process's children too (the largest of them):
// `ownRssMB` is the measured process's own VmHWM, sampled every 20 ms (its peak so far, so the last sample is close to
// its final peak), which tells reshifter's memory from that of an etcd it starts.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';
export const rssSource = existsSync(GNU_TIME) ? 'GNU time %M (ru_maxrss)' : '/proc VmHWM sampled every 20 ms';

/**
 * Runs `cmd args` (stdout to `stdoutFile` or discarded) after a `sync`, so that no case pays for writing back the
 * files the one before it left dirty in the page cache (a 400 MB snapshot is written back for seconds), and resolves { ms, rssMB, cpuMs, code, stderr }; rejects when it
 * exits non-zero unless `allowFail`.
 */
export function measure(cmd, args, { env = process.env, cwd, stdoutFile, allowFail = false } = {}) {
  const statsFile = join(tmpdir(), `rs-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const useTime = existsSync(GNU_TIME);
  const argv = useTime ? [GNU_TIME, ['-f', '%M %U %S', '-o', statsFile, cmd, ...args]] : [cmd, args];
  const out = stdoutFile ? openSync(stdoutFile, 'w') : 'ignore';
  spawnSync('sync');
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0], argv[1], { env, cwd, stdio: ['ignore', out, 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr = (stderr + d.toString()).slice(-20000);
    });
    let ownKB = 0;
    // Under GNU time the measured process is time's only child.
    const measured = () => (useTime ? readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0] : String(child.pid));
    const sampler = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${measured()}/status`, 'utf8'));
        if (m) ownKB = Math.max(ownKB, Number(m[1]));
      } catch {
        /* not started yet, or exited */
      }
    }, 20);
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      clearInterval(sampler);
      if (typeof out === 'number') closeSync(out);
      let rssKB = ownKB;
      let cpuMs;
      if (useTime) {
        try {
          const lines = readFileSync(statsFile, 'utf8').trim().split('\n');
          const [rss, user, sys] = lines[lines.length - 1].split(' ').map(Number);
          rssKB = rss;
          cpuMs = (user + sys) * 1000;
        } catch {
          /* no stats */
        }
        rmSync(statsFile, { force: true });
      }
      const result = { ms, rssMB: Math.max(rssKB, ownKB) / 1024, ...(ownKB > 0 && { ownRssMB: ownKB / 1024 }), ...(cpuMs !== undefined && { cpuMs }), code, stderr };
      if (code !== 0 && !allowFail) {
        reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      } else resolve(result);
    });
  });
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
