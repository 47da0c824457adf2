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
