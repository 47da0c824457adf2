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
