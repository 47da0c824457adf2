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
 * reshifter_delta_lag_seconds: now minus the time the oldest change not yet stored was received (0 when every change
 * received is stored), the recovery point as it stands. The gauges are read from the recorder at each scrape.
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
    help: 'Seconds since the oldest change not yet stored in a delta segment was received (0: all stored): the live recovery point.',
    registers,
    collect() {
      const oldest = state().oldestPendingAt;
      this.set(oldest === undefined ? 0 : Math.max(0, (now() - oldest) / 1000));
    },
  });
  return {
    segmentStored(m) {
      segments.inc();
      events.inc(m.events);
    },
  };
}
