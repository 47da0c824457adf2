import type { Readable } from 'node:stream';
import type { Etcd3 } from 'etcd3';
import { decoders, type CodecKeys } from '../../src/archive/codec.js';
import { readDeltaSegment } from '../../src/archive/delta-segment-reader.js';
import { isDeltaManifest, type DeltaManifest, type Manifest } from '../../src/archive/manifest.js';
import type { DeltaEvent } from '../../src/core/delta-event.js';
import type { BackupRepository } from '../../src/store/backup-repository.js';

/** The segments of the chain of `base`, by revision. */
export function segmentsOf(backups: readonly Manifest[], base: string): DeltaManifest[] {
  return backups.filter((m): m is DeltaManifest => isDeltaManifest(m) && m.base === base).sort((a, b) => a.fromRevision - b.fromRevision);
}

/** Every change a stored segment holds, read back through its codec and checked against its manifest. */
export async function segmentEvents(repo: BackupRepository, m: DeltaManifest, keys: CodecKeys = {}): Promise<DeltaEvent[]> {
  let s: Readable = await repo.openArtifact(m);
  for (const d of decoders(m, keys)) s = s.pipe(d);
  const out: DeltaEvent[] = [];
  for await (const item of readDeltaSegment(s, { base: m.base, fromRevision: m.fromRevision, toRevision: m.toRevision, events: m.events })) {
    if (item.type === 'event') out.push(item.event);
  }
  return out;
}

interface KeyState {
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: string;
}

const ALL = Buffer.from([0]);

/** Every key etcd held at `revision`, as etcd itself answers a read at that revision. */
async function stateAt(client: Etcd3, revision: number): Promise<Map<string, KeyState>> {
  const res = await client.kv.range({ key: ALL, range_end: ALL, revision: String(revision) });
  const out = new Map<string, KeyState>();
  for (const kv of res.kvs) {
    out.set(kv.key.toString('base64'), {
      value: kv.value.toString('base64'),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
      lease: String(kv.lease ?? '0'),
    });
  }
  return out;
}

/**
 * Checks recorded changes against etcd's own history: starting from what etcd held at `baseRevision`, the changes
 * of each revision up to `lastRevision` applied in order must give exactly what etcd answers for a read at that
 * revision (keys, values, create and mod revisions, versions, leases), and every revision must hold a change. Returns
 * the first difference, or undefined.
 */
export async function compareWithHistory(client: Etcd3, baseRevision: number, events: readonly DeltaEvent[], lastRevision: number): Promise<string | undefined> {
  const state = await stateAt(client, baseRevision);
  let i = 0;
  for (let rev = baseRevision + 1; rev <= lastRevision; rev++) {
    if (i >= events.length || events[i]!.modRevision !== rev) return `revision ${rev} holds no recorded change (next recorded: ${events[i]?.modRevision ?? 'none'})`;
    for (; i < events.length && events[i]!.modRevision === rev; i++) {
      const e = events[i]!;
      const k = e.key.toString('base64');
      if (e.type === 'delete') state.delete(k);
      else state.set(k, { value: e.value.toString('base64'), createRevision: e.createRevision, modRevision: e.modRevision, version: e.version, lease: e.lease ?? '0' });
    }
    const truth = await stateAt(client, rev);
    const diff = firstDifference(state, truth);
    if (diff !== undefined) return `at revision ${rev}: ${diff}`;
  }
  if (i < events.length) return `a change at revision ${events[i]!.modRevision}, past the last revision ${lastRevision}`;
  return undefined;
}

function firstDifference(got: Map<string, KeyState>, want: Map<string, KeyState>): string | undefined {
  for (const [k, w] of want) {
    const g = got.get(k);
    if (JSON.stringify(g) !== JSON.stringify(w)) return `key ${Buffer.from(k, 'base64').toString()}: recorded ${JSON.stringify(g)}, etcd ${JSON.stringify(w)}`;
  }
  for (const k of got.keys()) if (!want.has(k)) return `key ${Buffer.from(k, 'base64').toString()} recorded but not in etcd`;
  return undefined;
}
