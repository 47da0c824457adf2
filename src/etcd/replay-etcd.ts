import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Etcd3 } from 'etcd3';
import { AbortedError, OperationError, describeError } from '../core/errors.js';

/** The member name of the temporary etcd a point-in-time restore replays changes in. */
export const REPLAY_MEMBER = 'reshifter-replay';

/** Loopback URLs of a temporary single-member etcd: what its data dir is restored with, and what it listens on. */
export interface ReplayUrls {
  client: string;
  peer: string;
}

/** A temporary etcd on loopback ports, running on a data dir of ours. */
export interface ReplayEtcd {
  endpoint: string;
  /** A client of it, closed by stop(); its messages may be as large as the etcd accepts. */
  client: Etcd3;
  /** The revision it reports. */
  revision(): Promise<number>;
  /** Stops it (SIGTERM, then SIGKILL after 10 s) and waits for it to exit. */
  stop(): Promise<void>;
  /**
   * After a request to it failed: how it ended when it did not run any more, or does not within `waitMs` (its exit
   * can be seen after the failed request), as `was killed by SIGINT: <its last words>`; undefined while it runs.
   */
  ended(waitMs: number): Promise<{ signal?: NodeJS.Signals; text: string } | undefined>;
}

const MAX_REQUEST = 64 * 1024 * 1024;
const MAX_MESSAGE = MAX_REQUEST + 1024 * 1024;

/** Free loopback ports for a temporary etcd. */
export async function replayUrls(): Promise<ReplayUrls> {
  return { client: `http://127.0.0.1:${await freePort()}`, peer: `http://127.0.0.1:${await freePort()}` };
}

/**
 * Starts `etcd` on `dataDir` (restored with REPLAY_MEMBER and `urls.peer`) on loopback only, with request limits
 * large enough for any change a source etcd accepted, and waits (60 s at most) until it serves. Throws an
 * OperationError saying what to install when there is no etcd, or etcd's last words when it exits (or how it was
 * killed: a terminal's Ctrl-C reaches it too), and an AbortedError once `signal` aborts.
 */
export async function startReplayEtcd(dataDir: string, urls: ReplayUrls, opts: { removeIfKilled?: string; signal?: AbortSignal } = {}): Promise<ReplayEtcd> {
  const args = [
    '--name', REPLAY_MEMBER,
    '--data-dir', dataDir,
    '--listen-client-urls', urls.client,
    '--advertise-client-urls', urls.client,
    '--listen-peer-urls', urls.peer,
    '--initial-advertise-peer-urls', urls.peer,
    '--initial-cluster', `${REPLAY_MEMBER}=${urls.peer}`,
    // A recorded change fits the source's limit, whatever it was; the database may be as large as the source's.
    '--max-request-bytes', String(MAX_REQUEST),
    '--max-txn-ops', '4096',
    '--quota-backend-bytes', String(8 * 1024 * 1024 * 1024),
    // A lone member started on a restored data dir waits out an election timeout before it serves: about 2 s with
    // etcd's 1 s default, 0.2 s with this. It has no peer that a late heartbeat could make call an election.
    '--heartbeat-interval', '10',
    '--election-timeout', '100',
    '--log-level', 'error',
    '--logger', 'zap',
  ];
  const proc = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let spawnError: Error | undefined;
  proc.on('error', (err) => (spawnError = err));
  proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.once('error', () => resolve());
  });
  // A restore that exits on a second signal must not leave etcd running on the machine.
  const killOnExit = () => proc.kill('SIGKILL');
  process.once('exit', killOnExit);
  const guard = proc.pid !== undefined ? startGuard(proc.pid, dataDir, opts.removeIfKilled ?? dataDir) : undefined;
  const stop = async () => {
    await stopProcess(proc, exited);
    process.off('exit', killOnExit);
    guard?.done();
  };
  try {
    await waitServing(proc, urls.client, () => stderr, () => spawnError, opts.signal);
  } catch (err) {
    await stop();
    throw err;
  }
  const client = new Etcd3({ hosts: urls.client, grpcOptions: { 'grpc.max_send_message_length': MAX_MESSAGE, 'grpc.max_receive_message_length': MAX_MESSAGE } });
  return {
    endpoint: urls.client,
    client,
    async revision() {
      const res = await client.kv.range({ key: Buffer.from([0]), count_only: true });
      return Number(res.header.revision);
    },
    async stop() {
      client.close();
      await stop();
    },
    ended: (waitMs) => endedOf(proc, exited, () => stderr, waitMs),
  };
}

/** ReplayEtcd.ended: how `proc` ended, waiting up to `waitMs` for its exit; undefined while it runs. */
async function endedOf(proc: ChildProcess, exited: Promise<void>, stderr: () => string, waitMs: number): Promise<{ signal?: NodeJS.Signals; text: string } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
  clearTimeout(timer);
  if (proc.exitCode === null && proc.signalCode === null) return undefined;
  const how = proc.exitCode !== null ? `exited with ${proc.exitCode}` : `was killed by ${proc.signalCode}`;
  return { ...(proc.signalCode !== null && { signal: proc.signalCode }), text: `${how}: ${lastLine(stderr())}` };
}

/**
 * What stops the temporary etcd when the restore is killed outright (SIGKILL, the OOM killer), where no exit handler
 * runs: etcd would go on serving every key, Secrets too, without auth on a loopback port, over a decrypted copy of the
 * backup. A shell in its own process group (so that a terminal's Ctrl-C reaches only the restore) reads a pipe from
 * the restore: a restore that stops its etcd says "done" and the guard exits; a pipe that closes without it means the
 * restore died, and the guard stops that etcd (when the process still runs on that data dir: never another one that
 * took its pid) and removes the folder it worked in.
 */
const GUARD_SCRIPT = `read -r said
[ "$said" = done ] && exit 0
if grep -qa -- "$3" "/proc/$1/cmdline" 2>/dev/null; then
  kill "$1" 2>/dev/null; i=0
  while kill -0 "$1" 2>/dev/null; do [ "$i" -eq 100 ] && kill -9 "$1" 2>/dev/null; i=$((i + 1)); sleep 0.1; done
fi
case "$2" in */reshifter-*) rm -rf -- "$2" ;; esac`;

function startGuard(pid: number, dataDir: string, removes: string): { done(): void } {
  const guard = spawn('sh', ['-c', GUARD_SCRIPT, 'reshifter-replay-guard', String(pid), removes, dataDir], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  guard.on('error', () => undefined);
  guard.stdin?.on('error', () => undefined);
  guard.unref();
  (guard.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return { done: () => guard.stdin?.end('done\n') };
}

async function waitServing(proc: ChildProcess, endpoint: string, stderr: () => string, spawnError: () => Error | undefined, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (signal?.aborted) throw new AbortedError(`the start of the temporary etcd of the restore stopped: ${describeError(signal.reason)}`);
    const err = spawnError();
    if (err) {
      throw new OperationError(`a point-in-time restore replays changes in a temporary etcd, and "etcd" cannot be started (${err.message}): install etcd's server, e.g. "apt-get install etcd-server"`);
    }
    // Killed by a signal (the terminal's Ctrl-C reaches it too, the OOM killer), it has a signalCode and no exitCode.
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new OperationError(`the temporary etcd of the restore ${proc.exitCode !== null ? `exited with ${proc.exitCode}` : `was killed by ${proc.signalCode}`}: ${lastLine(stderr())}`);
    }
    if (await fetch(`${endpoint}/health`).then((res) => res.ok, () => false)) return;
    if (Date.now() > deadline) throw new OperationError(`the temporary etcd of the restore did not start within 60 s: ${lastLine(stderr())}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopProcess(proc: ChildProcess, exited: Promise<void>): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function lastLine(text: string): string {
  return text.trim().split('\n').slice(-2).join(' ') || '(no output)';
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
