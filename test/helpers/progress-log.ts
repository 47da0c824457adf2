import { expect, vi } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/log.js';
import type { OpContext } from '../../src/ops/context.js';

/** A log line of a run, as the progress tests read it. */
export type ProgressLine = {
  msg: string;
  what?: string;
  bytes?: number;
  total?: number;
  wrapping?: string;
  keys?: number;
  read?: number;
  pass?: number;
  scanned?: number;
};

/**
 * Runs `op` (real, with the configuration of `env`) and returns what it returned and the lines it logged. Only the
 * progress timer is faked: advanced 5 s at every turn of the event loop while `op` runs, so that every phase reports
 * progress however short it is here.
 */
export async function loggedOp<T>(env: Record<string, string>, op: (ctx: OpContext) => Promise<T>): Promise<{ result: T; lines: ProgressLine[] }> {
  const loaded = loadConfig(env);
  if (!loaded.config) throw new Error(loaded.errors.join('; '));
  const lines: ProgressLine[] = [];
  const log = createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l) as ProgressLine) });
  const ctx: OpContext = { config: loaded.config, log, signal: new AbortController().signal };
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  try {
    let settled = false;
    const running = op(ctx).finally(() => (settled = true));
    while (!settled) {
      vi.advanceTimersByTime(5000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return { result: await running, lines };
  } finally {
    vi.useRealTimers();
  }
}

/** loggedVerify: a verify run by loggedOp, which must succeed; the lines it logged. */
export async function loggedVerify(env: Record<string, string>, verify: (ctx: OpContext) => Promise<{ ok: boolean }>): Promise<ProgressLine[]> {
  const { result, lines } = await loggedOp(env, verify);
  expect(result.ok).toBe(true);
  return lines;
}
