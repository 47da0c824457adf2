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
