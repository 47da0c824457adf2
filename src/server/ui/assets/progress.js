// A running job's progress in words: bytes, and when the server knows them the total, percent, rate and time left.

import { formatBytes } from './dom.js';

/** "about 40 s left", "about 3 min left", "about 1 h 20 min left". */
export function formatEta(seconds) {
  const s = Math.max(1, Math.round(seconds));
  if (s < 60) return `about ${s} s left`;
  if (s < 3600) return `about ${Math.round(s / 60)} min left`;
  return `about ${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min left`;
}

/** Milliseconds as the CLI writes them (core/duration.ts formatDuration): "850ms", "2.5s", "61s", "2m5s". */
export function formatDuration(ms) {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${Math.round(ms / 100) / 10}s`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  return s % 60 === 0 ? `${s / 60}m` : `${Math.floor(s / 60)}m${s % 60}s`;
}

/**
 * How long something took, worded as the CLI's tookText (core/rate-meter.ts): "in <1ms", "in 40ms",
 * "in 2.5s (4000 keys/s)": a rate only over a second or more, where it means something.
 */
export function tookText(durationMs, count, unit) {
  const took = durationMs < 1 ? '<1ms' : formatDuration(durationMs);
  return durationMs < 1000 ? `in ${took}` : `in ${took} (${Math.round((count * 1000) / Math.max(1, durationMs))} ${unit}/s)`;
}

/**
 * What a job's `progress` says: `{ percent?, parts }`, where parts are "123.0 MiB of 400.0 MiB", "31%",
 * "45.2 MiB/s", "about 6 s left", as far as they are known. Percent stops at 99 until the job has finished: the
 * total is etcd's estimate (a snapshot's database may grow while it streams).
 */
export function describeProgress(p) {
  const total = typeof p.totalBytes === 'number' && p.totalBytes > 0 ? p.totalBytes : undefined;
  const rate = typeof p.bytesPerSecond === 'number' ? p.bytesPerSecond : undefined;
  const parts = [total ? `${formatBytes(p.bytes)} of ${formatBytes(total)}` : `${formatBytes(p.bytes)} read`];
  let percent;
  if (total) {
    percent = Math.min(99, Math.floor((p.bytes / total) * 100));
    parts.push(`${percent}%`);
  }
  if (rate !== undefined) parts.push(`${formatBytes(rate)}/s`);
  if (total && rate !== undefined) {
    if (p.bytes >= total) parts.push('finishing');
    else if (rate > 0) parts.push(formatEta((total - p.bytes) / rate));
    else parts.push('stalled');
  }
  return { percent, parts };
}
