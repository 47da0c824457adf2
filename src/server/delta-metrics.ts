import { Counter, Gauge, type Registry } from 'prom-client';
import type { DeltaManifest } from '../archive/manifest.js';
import type { DeltaRecorderState } from '../ops/delta-recorder.js';

/** The metrics of continuous backups, in `run`'s registry. */
export interface DeltaMetrics {
  /** Counts a stored segment and its changes. */
  segmentStored(m: DeltaManifest): void;
}

/**
 * reshifter_delta_segments_total, reshifter_delta_events_total, reshifter_delta_last_revision and
 * reshifter_delta_lag_seconds: now minus the time the oldest change not yet stored was received, or the time the watch
 * of etcd went down (0 when every change received is stored and the watch receives), the recovery point as it stands:
 * a watch refused or cut off for hours must not read as 0 to the alert on it. The gauges are read from the recorder at each scrape.
 */
export function addDeltaMetrics(registry: Registry, state: () => DeltaRecorderState, now: () => number = Date.now): DeltaMetrics {
  const registers = [registry];
  const segments = new Counter({ name: 'reshifter_delta_segments_total', help: 'Delta segments stored by continuous backups.', registers });
  const events = new Counter({ name: 'reshifter_delta_events_total', help: 'Changes (puts and deletes) stored in delta segments.', registers });
  new Gauge({
    name: 'reshifter_delta_last_revision',
    help: 'The newest etcd revision that stored delta segments cover.',
    registers,
    collect() {
      const r = state().lastRevision;
      if (r !== undefined) this.set(r);
    },
  });
  new Gauge({
    name: 'reshifter_delta_lag_seconds',
    help: 'Seconds since the oldest change not yet stored in a delta segment was received, or since the watch of etcd went down (0: all stored, watching): the live recovery point.',
    registers,
    collect() {
      const s = state();
      // A watch that is down receives nothing, so nothing waits: the changes since it went down are what is missing.
      // Not while the first full backup, which the watch waits for, runs (/healthz reads it the same way).
      const down = s.firstBaseSince === undefined ? s.downSince : undefined;
      const since = [s.oldestPendingAt, down].filter((t): t is number => t !== undefined);
      this.set(since.length === 0 ? 0 : Math.max(0, (now() - Math.min(...since)) / 1000));
    },
  });
  return {
    segmentStored(m) {
      segments.inc();
      events.inc(m.events);
    },
  };
}
