import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

const run = promisify(execFile);

export interface EtcdOptions {
  /** Serve the v2 keys API too (`--enable-v2`). */
  enableV2?: boolean;
  /** Extra etcd flags (TLS, quotas, ...). */
  args?: string[];
  /** Use this data directory instead of a fresh temporary one (e.g. a restored snapshot). */
  dataDir?: string;
  /** Scheme of the client URL: `https` when TLS flags are passed in `args`. */
  scheme?: 'http' | 'https';
  /**
   * PEM files to reach an `https` etcd with: the startup wait polls `/health` with them, and `ctl` passes them to
   * etcdctl. Without them an `https` etcd counts as up once its TLS handshake starts.
   */
  tls?: { caFile: string; certFile?: string; keyFile?: string };
  /** The loopback address to listen on: IPv4 (default) or IPv6. */
  host?: '127.0.0.1' | '::1';
}

/** A real etcd (Debian's) on free loopback ports, for the demo, the benchmark and the tests. */
export interface TestEtcd {
  endpoint: string;
  dataDir: string;
  process: ChildProcess;
  /** Runs etcdctl (v3 API) against this etcd and returns stdout. */
  ctl(args: string[], extraEnv?: Record<string, string>): Promise<string>;
  /** Kills etcd with SIGKILL (for fault tests). */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEtcd(opts: EtcdOptions = {}): Promise<TestEtcd> {
  // Free ports are found before etcd binds them: another process (tests run in parallel) may take one meanwhile.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startEtcdOnce(opts: EtcdOptions): Promise<TestEtcd> {
  const host = opts.host ?? '127.0.0.1';
  const urlHost = host === '::1' ? '[::1]' : host;
  const clientPort = await freePort(host);
  const peerPort = await freePort(host);
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'rs-etcd-')));
  const scheme = opts.scheme ?? 'http';
  const endpoint = `${scheme}://${urlHost}:${clientPort}`;
  const args = [
    '--name', 'test',
    '--data-dir', dataDir,
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://${urlHost}:${peerPort}`,
    '--initial-advertise-peer-urls', `http://${urlHost}:${peerPort}`,
    '--initial-cluster', `test=http://${urlHost}:${peerPort}`,
    '--log-level', 'error',
    '--logger', 'zap',
    ...(opts.enableV2 ? ['--enable-v2'] : []),
    ...(opts.args ?? []),
  ];
  const proc = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let spawnError: Error | undefined;
  proc.on('error', (err) => {
    spawnError = err;
  });
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.once('error', () => resolve());
  });

  const ctl = etcdctl(endpoint, opts.tls);
  await waitUntilServing(proc, { scheme, host, clientPort, tls: opts.tls, stderr: () => stderr, spawnError: () => spawnError });
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  };
  return {
    endpoint,
    dataDir,
    process: proc,
    ctl,
    kill,
    async stop() {
      await kill();
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** etcdctl (v3 API) against `endpoint`, with the client certificates when there are any; resolves with its stdout. */
function etcdctl(endpoint: string, tls: EtcdOptions['tls']): TestEtcd['ctl'] {
  return async (ctlArgs, extraEnv = {}) => {
    const tlsArgs = tls ? ['--cacert', tls.caFile, ...(tls.certFile && tls.keyFile ? ['--cert', tls.certFile, '--key', tls.keyFile] : [])] : [];
    const { stdout } = await run('etcdctl', ['--endpoints', endpoint, ...tlsArgs, ...ctlArgs], {
      env: { ...process.env, ETCDCTL_API: '3', ...extraEnv },
      maxBuffer: 1 << 30,
      encoding: 'utf8',
    });
    return stdout;
  };
}

/** Waits (20 s at most) until the started etcd serves; throws saying why when it exits, cannot start or stays down. */
async function waitUntilServing(
  proc: ChildProcess,
  p: { scheme: string; host: string; clientPort: number; tls: EtcdOptions['tls']; stderr: () => string; spawnError: () => Error | undefined },
): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const spawnError = p.spawnError();
    if (spawnError) {
      throw new Error(`cannot start etcd (${spawnError.message}): install it, e.g. "apt-get install etcd-server etcd-client"`);
    }
    if (proc.exitCode !== null) throw new Error(`etcd exited with ${proc.exitCode}: ${p.stderr()}`);
    try {
      const up =
        p.scheme === 'https'
          ? await httpsUp(p.host, p.clientPort, p.tls)
          : await fetch(`http://${p.host === '::1' ? '[::1]' : p.host}:${p.clientPort}/health`).then((res) => res.ok, () => false);
      if (up) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`etcd did not start: ${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Whether an https etcd is serving: `/health` answers when we hold the certificates to ask it; without them, the
 * listener at least starts a TLS handshake (etcd opens it once the server is ready).
 */
function httpsUp(host: string, port: number, tls: EtcdOptions['tls']): Promise<boolean> {
  return new Promise((resolve) => {
    if (tls === undefined) {
      const socket = tlsConnect({ host, port, rejectUnauthorized: false }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        // A handshake alert (the server wants a client certificate) still means it is listening and speaking TLS.
        resolve(err.code !== 'ECONNREFUSED' && err.code !== 'ECONNRESET');
      });
      socket.setTimeout(1000, () => socket.destroy());
      socket.on('close', () => resolve(false));
      return;
    }
    const req = httpsRequest(
      {
        host,
        port,
        path: '/health',
        ca: readFileSync(tls.caFile),
        ...(tls.certFile && tls.keyFile && { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }),
        timeout: 1000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
