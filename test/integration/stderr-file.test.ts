import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEtcd } from '../helpers/etcd.js';
import { portOf, whileRunning } from '../helpers/faults.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;

/**
 * stderr redirected to a file, as cron (`2>>backup.log`) and systemd have it: a failed command's message for a human
 * must be the file's last line. pino writes its lines asynchronously, and the message, written straight to stderr,
 * landed before the log's last line ("backup failed"): every time for a backup stopped by SIGTERM while etcd hung.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-stderr-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('a backup stopped by SIGTERM ends its stderr file with the message, after every log line', async () => {
  const etcd = await startEtcd();
  etcd.process.kill('SIGSTOP'); // frozen: the backup waits on it until the signal
  try {
    const tries = Array.from({ length: 4 }, async (_, i) => {
      const file = join(dir, `stderr-${i}`);
      // One proxy per try in front of the frozen etcd (the kernel still accepts its connections): its first
      // connection says that this try's command has started and asks etcd.
      const proxy = await startTcpProxy(portOf(etcd.endpoint));
      const child = spawn('sh', ['-c', 'exec "$0" "$1" backup 2>"$2"', process.execPath, MAIN, file], {
        // RS_ETCD_API_VERSION=v3: a snapshot asked for by name on 'auto' first looks whether the Kubernetes keys are
        // in the v2 keyspace, which a frozen etcd answers only with RS_ETCD_TIMEOUT; the stream's wait is what is signalled.
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', RS_ETCD_ENDPOINTS: `http://${proxy.address}`, RS_BACKUP_STRATEGY: 'snapshot', RS_ETCD_API_VERSION: 'v3', RS_BACKUP_DIR: join(dir, 'store') },
        stdio: 'ignore',
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // Once it waits on etcd (a signal before the command's handlers are installed stops it before the backup
      // starts): the check of the endpoints, which waits RS_ETCD_TIMEOUT for a frozen etcd, logs nothing, so the
      // proxy's first connection is the sign, not a time after the start, which a loaded machine overran.
      try {
        const running = exited.then(async (code) => ({ code, stderr: await readFile(file, 'utf8') }));
        await whileRunning(running, () => proxy.connections > 0, 'the backup connecting to etcd');
        child.kill('SIGTERM');
        const code = await exited;
        return { code, lines: (await readFile(file, 'utf8')).trimEnd().split('\n') };
      } finally {
        child.kill('SIGKILL'); // only if the wait failed: it has exited otherwise
        await proxy.close();
      }
    });
    for (const { code, lines } of await Promise.all(tries)) {
      expect(code).toBe(1);
      expect(lines.some((l) => l.includes('"msg":"backup failed"'))).toBe(true);
      expect(lines.at(-1)).toMatch(/^reshifter: backup interrupted .*nothing was kept/);
    }
  } finally {
    etcd.process.kill('SIGCONT');
    await etcd.stop();
  }
});
