const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses `90s`, `15m`, `12h`, `30d`, `2w` (or a sum like `1d12h`) into milliseconds; throws on anything else. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  const re = /(\d+)([smhdw])/gy;
  let total = 0;
  let matched = 0;
  for (const m of trimmed.matchAll(re)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    matched += m[0].length;
  }
  if (trimmed.length === 0 || matched !== trimmed.length || !Number.isSafeInteger(total) || total <= 0) {
    throw new Error('is not a duration such as 90m, 12h, 30d or 2w');
  }
  return total;
}

/** The longest a Node timer waits (2^31 - 1 ms, 24.8 days): a longer one fires at once, or after that, with a warning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A duration that bounds a wait (a timeout, a retry window, an interval): parseDuration, at most MAX_TIMER_MS. 30d
 * printed Node's "TimeoutOverflowWarning ... truncated" on stderr, naming no variable, and waited something else.
 */
export function parseWaitDuration(text: string): number {
  const ms = parseDuration(text);
  if (ms > MAX_TIMER_MS) throw new Error('is longer than the 24 days (24d) a wait can be: give a shorter duration');
  return ms;
}

/** Milliseconds as an operator reads them: `850ms`, `2.5s`, `61s`, `2m5s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${Math.round(ms / 100) / 10}s`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  return s % 60 === 0 ? `${s / 60}m` : `${Math.floor(s / 60)}m${s % 60}s`;
}
