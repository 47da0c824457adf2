import type { ChildProcess } from 'node:child_process';
import { runCli, type CliResult } from './cli.js';

/** A `reshifter run` in the background, its log (stderr) kept as it comes. */
export interface BackgroundRun {
  done: Promise<CliResult>;
  child(): ChildProcess;
  log(): string;
  /** Waits until the log matches `re`; throws with the log after `ms`. */
  until(re: RegExp, ms?: number): Promise<void>;
}

/** Every run started here, for killStarted(). */
const started = new Set<ChildProcess>();

/** Starts `reshifter run` with `env` (harness deadline `timeoutMs`); stop it with SIGTERM through child(). */
export function startRun(env: Record<string, string>, opts: { timeoutMs?: number } = {}): BackgroundRun {
  let child: ChildProcess | undefined;
  let log = '';
  const done = runCli(['run'], env, {
    timeoutMs: opts.timeoutMs ?? 180_000,
    onStart: (c) => {
      child = c;
      started.add(c);
      c.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    },
  });
  const until = async (re: RegExp, ms = 30_000) => {
    const end = Date.now() + ms;
    while (!re.test(log)) {
      if (Date.now() > end) throw new Error(`no ${re} in the log of run:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { done, child: () => child!, log: () => log, until };
}

/** Kills the runs a failed test left running (it threw before its SIGTERM): for afterAll. */
export function killStarted(): void {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/**
 * `reshifter run` with `env` for as long as `work` runs: `work` starts once the log says `msg` (the scheduler, the
 * HTTP server ready), and SIGTERM stops run when it ends, however it ends. A failure of `work` is thrown once run has
 * exited; otherwise what run printed is returned.
 */
export async function runDuring(env: Record<string, string>, opts: { msg: string; timeoutMs: number }, work: () => Promise<void>): Promise<CliResult> {
  let failure: unknown;
  const res = await runCli(['run'], env, {
    timeoutMs: opts.timeoutMs,
    onStart: (child) => {
      let started = false;
      child.stderr!.on('data', (d: Buffer) => {
        if (started || !d.toString().includes(`"msg":"${opts.msg}"`)) return;
        started = true;
        void work()
          .catch((err: unknown) => (failure = err))
          .finally(() => child.kill('SIGTERM'));
      });
    },
  });
  if (failure) throw failure;
  return res;
}
