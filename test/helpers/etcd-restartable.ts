import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LONE_MEMBER_TIMING } from './etcd.js';
import { freePort } from './ports.js';

/** A real etcd that can be killed and started again on the same data directory and the same ports. */
export interface RestartableEtcd {
  endpoint: string;
  dataDir: string;
  /** Kills etcd with SIGKILL (a crash: nothing is flushed) and waits for it to exit. */
  kill(): Promise<void>;
  /**
   * Starts etcd again on the same data directory and ports; waits until it serves. `extraArgs` replace those it was
   * started with (new TLS files: a restart after certificates were renewed).
   */
  start(extraArgs?: string[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * src/demo's startEtcd picks new ports on every start; this one keeps them, as a restarted server does. With
 * `opts.https` it serves https (give the TLS flags in `extraArgs`), and counts as up once `up()` says so.
 */
export async function startRestartableEtcd(extraArgs: string[] = [], opts: { https?: { up: (endpoint: string) => Promise<boolean> } } = {}): Promise<RestartableEtcd> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rs-etcd-restart-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `${opts.https ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const argsWith = (extra: string[]) => [
    '--name', 'restartable',
    '--data-dir', dataDir,
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `restartable=http://127.0.0.1:${peerPort}`,
    '--log-level', 'error',
    '--logger', 'zap',
    ...LONE_MEMBER_TIMING,
    ...extra,
  ];
  let args = argsWith(extraArgs);
  const up = opts.https?.up ?? ((url: string) => fetch(`${url}/health`).then((r) => r.ok, () => false));
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stderr = '';
  const start = async (extra?: string[]) => {
    if (extra !== undefined) args = argsWith(extra);
    const p = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    p.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    exited = new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.once('error', () => resolve());
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`etcd exited with ${p.exitCode}: ${stderr}`);
      if (await up(endpoint)) return;
      if (Date.now() > deadline) throw new Error(`etcd did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  };
  await start();
  return {
    endpoint,
    dataDir,
    kill,
    start,
    async stop() {
      await kill();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
