import { expect, vi } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/log.js';
import type { OpContext } from '../../src/ops/context.js';

/** A log line of a run, as the progress tests read it. */
export type ProgressLine = { msg: string; what?: string; bytes?: number; total?: number; wrapping?: string };

/**
 * Runs `verify` (real, with the configuration of `env`) and returns the lines it logged. Only the progress timer is
 * faked: advanced 5 s at every turn of the event loop while the verify runs, so that every phase reports progress
 * however short it is here. The verify must succeed.
 */
export async function loggedVerify(env: Record<string, string>, verify: (ctx: OpContext) => Promise<{ ok: boolean }>): Promise<ProgressLine[]> {
  const loaded = loadConfig(env);
  if (!loaded.config) throw new Error(loaded.errors.join('; '));
  const lines: ProgressLine[] = [];
  const log = createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l) as ProgressLine) });
  const ctx: OpContext = { config: loaded.config, log, signal: new AbortController().signal };
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  try {
    let settled = false;
    const running = verify(ctx).finally(() => (settled = true));
    while (!settled) {
      vi.advanceTimersByTime(5000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect((await running).ok).toBe(true);
  } finally {
    vi.useRealTimers();
  }
  return lines;
}
