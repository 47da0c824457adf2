import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

const MAIN = new URL('../../src/demo/s3rver-main.cjs', import.meta.url).pathname;

/** A real S3-compatible server (s3rver) in its own process on a free loopback port. */
export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** Its on-disk directory (objects live under `<dir>/<bucket>/`). */
  dir: string;
  /** The environment that points reshifter at this server. */
  env: Record<string, string>;
  process: ChildProcess;
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (after kill). */
  restart(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open and nothing answers, as behind a network blackhole. */
  pause(): void;
  /** Lets a paused server go on (SIGCONT). */
  resume(): void;
  stop(): Promise<void>;
}

/**
 * `checkSignatures`: refuse requests not signed with the server's credentials (those of `env`), as a real S3 does;
 * by default any signature is taken.
 */
export async function startS3(bucket = 'backups', opts: { host?: '127.0.0.1' | '::1'; checkSignatures?: boolean } = {}): Promise<TestS3> {
  const host = opts.host ?? '127.0.0.1';
  const port = await freePort(host);
  const dir = await mkdtemp(join(tmpdir(), 'rs-s3-'));
  const endpoint = `http://${host === '::1' ? '[::1]' : host}:${port}`;
  let proc!: ChildProcess;
  const launch = () =>
    new Promise<void>((resolve, reject) => {
      // s3rver makes its listing continuation tokens with DES, which Node's OpenSSL 3 has only in its legacy provider:
      // without it every listing of more than one page (1000 keys) answered 500.
      const args = ['--openssl-legacy-provider', MAIN, String(port), dir, bucket, host, ...(opts.checkSignatures ? ['signatures'] : [])];
      proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      proc.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`s3rver exited with ${code}: ${err}`)));
    });
  await launch();
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    }
  };
  return {
    endpoint,
    bucket,
    dir,
    get process() {
      return proc;
    },
    env: {
      RS_S3_BUCKET: bucket,
      RS_S3_ENDPOINT: endpoint,
      RS_S3_REGION: 'us-east-1',
      RS_S3_FORCE_PATH_STYLE: 'true',
      ACCESS_KEY_ID: 'S3RVER',
      SECRET_ACCESS_KEY: 'S3RVER',
    },
    kill,
    /** Starts the server again after kill(); does nothing while it still runs. */
    restart: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) await launch();
    },
    pause: () => void proc.kill('SIGSTOP'),
    resume: () => void proc.kill('SIGCONT'),
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
