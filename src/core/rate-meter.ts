import { formatDuration } from './duration.js';

/**
 * The recent rate of a growing count (bytes read), from samples of (count, time): the slope over the last
 * `windowMs`, so a stall shows within seconds and a burst does not linger. Reporters call it as often as they like
 * (per chunk, or once a second): samples closer than `granularityMs` to the one before replace the newest, so memory
 * stays a few dozen samples.
 */
export class RateMeter {
  private readonly samples: Array<{ count: number; at: number }> = [];

  constructor(
    private readonly windowMs = 5000,
    private readonly granularityMs = 250,
    /** No rate until the samples span this long: one sample a moment after the start says little. */
    private readonly minSpanMs = 900,
  ) {}

  /** Records that the count was `count` at time `at` (ms). */
  add(count: number, at: number): void {
    const s = this.samples;
    const prev = s[s.length - 2];
    if (s.length >= 2 && prev !== undefined && at - prev.at < this.granularityMs) s[s.length - 1] = { count, at };
    else s.push({ count, at });
    // Keep the newest sample at or before the window's start, so the window is always covered.
    while (s.length > 2 && s[1]!.at <= at - this.windowMs) s.shift();
  }

  /** Counts per second over the window, or undefined while the samples span less than minSpanMs. */
  perSecond(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first === undefined || last === undefined || last.at - first.at < this.minSpanMs) return undefined;
    return Math.max(0, ((last.count - first.count) * 1000) / (last.at - first.at));
  }
}

/** A rate is said only over at least this long: over less it extrapolates a moment (1 key in 4 ms is no 250 keys/s). */
export const MIN_RATE_SPAN_MS = 1000;

/** `count` per second over `durationMs`, rounded; finite for any span (one under 1 ms counts as 1 ms: a lower bound). */
export function ratePerSecond(count: number, durationMs: number): number {
  return Math.round((count * 1000) / Math.max(1, durationMs));
}

/**
 * How long something took, with its rate once the span is long enough for one to mean something: `in <1ms`,
 * `in 40ms`, `in 2.5s (4000 keys/s)`.
 */
export function tookText(durationMs: number, count: number, unit: string): string {
  const took = durationMs < 1 ? '<1ms' : formatDuration(durationMs);
  return durationMs < MIN_RATE_SPAN_MS ? `in ${took}` : `in ${took} (${ratePerSecond(count, durationMs)} ${unit}/s)`;
}
