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

/** Milliseconds as an operator reads them: `850ms`, `2.5s`, `61s`, `2m5s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${Math.round(ms / 100) / 10}s`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  return s % 60 === 0 ? `${s / 60}m` : `${Math.floor(s / 60)}m${s % 60}s`;
}
