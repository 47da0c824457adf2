import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { S3Store } from '../../src/store/s3-store.js';
import { runCli, type CliResult } from './cli.js';
import type { TestS3 } from './s3.js';

/** Fills etcd with `count` incompressible values of `size` bytes under /registry/configmaps/big/, so transfers take a while. */
export async function loadBigValues(endpoint: string, count: number, size = 512 * 1024): Promise<void> {
  const client = new Etcd3({ hosts: endpoint });
  try {
    for (let i = 0; i < count; i += 16) {
      await Promise.all(
        Array.from({ length: Math.min(16, count - i) }, (_, j) =>
          client.put(`/registry/configmaps/big/value-${String(i + j).padStart(4, '0')}`).value(randomBytes(size)),
        ),
      );
    }
  } finally {
    client.close();
  }
}

/** Keys under /registry, read from etcd itself. */
export async function countKeys(endpoint: string): Promise<number> {
  const client = new Etcd3({ hosts: endpoint });
  try {
    return Number((await client.kv.range({ key: Buffer.from('/registry/'), range_end: Buffer.from('/registry0'), count_only: true })).count);
  } finally {
    client.close();
  }
}

/** Every file under `dir`, relative, sorted (temp files included). */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1))
    .sort();
}

/** The keys in the test bucket (as S3 lists them: completed objects only). */
export async function bucketKeys(s3: TestS3, prefix = ''): Promise<string[]> {
  const store = new S3Store({ kind: 's3', bucket: s3.bucket, endpoint: s3.endpoint, region: 'us-east-1', prefix: '', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', requestTimeoutMs: 5_000, retryWindowMs: 10_000 });
  // A store lists a folder's own files (as readdir does): the folders below are walked one by one.
  const under = async (p: string): Promise<string[]> => [
    ...(await store.list(p)).map((o) => o.key),
    ...(await Promise.all((await store.folders(p)).map((f) => under(`${p}${f}/`)))).flat(),
  ];
  try {
    return (await under(prefix)).sort();
  } finally {
    await store.close();
  }
}

/** Polls `check` every 20 ms until it is true; fails after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The port of an `http://127.0.0.1:PORT` endpoint. */
export const portOf = (endpoint: string) => Number(new URL(endpoint).port);

/**
 * Like `until`, while a CLI run is in progress: fails at once, with what the run printed, if it ends first
 * (so a run that failed early is reported as such rather than as a timeout).
 */
export async function whileRunning(
  running: Promise<{ code: number | null; stderr: string }>,
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  let ended: { code: number | null; stderr: string } | undefined;
  void running.then((r) => (ended = r));
  await until(async () => {
    if (await check()) return true;
    if (ended) throw new Error(`the command ended (exit ${ended.code}) before ${what}:\n${ended.stderr}`);
    return false;
  }, what, timeoutMs);
}

/**
 * Runs the built CLI, sends it SIGTERM once `ready` holds for what it has logged (and `settleMs` after that), and
 * returns what it printed and how long it took to exit after the signal.
 */
export async function terminateWhen(
  args: string[],
  env: Record<string, string>,
  ready: (stderr: string) => boolean,
  what: string,
  settleMs = 0,
): Promise<{ res: CliResult; exitMs: number }> {
  let child!: ChildProcess;
  let stderr = '';
  const result = runCli(args, env, {
    onStart: (c) => {
      child = c;
      c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    },
  });
  await whileRunning(result, () => ready(stderr), what);
  if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
  const signalled = Date.now();
  child.kill('SIGTERM');
  const res = await result;
  return { res, exitMs: Date.now() - signalled };
}
