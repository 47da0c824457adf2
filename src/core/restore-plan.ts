import type { ParsedKey } from '../kube/index.js';
import { isExpiring, type KeyRecord } from './key-record.js';

/**
 * Restore order: Namespaces first (objects in a namespace that does not exist confuse the apiserver and its
 * controllers), then CustomResourceDefinitions (custom resources are only served once their CRD is), then the rest.
 */
export const RESTORE_PHASES = ['namespaces', 'customresourcedefinitions', 'everything else'] as const;
export type RestorePhase = 0 | 1 | 2;

/** The phase a key is restored in. */
export function restorePhase(key: ParsedKey): RestorePhase {
  if (key.type !== 'object') return 2;
  if (key.resource === 'namespaces' && key.group === undefined) return 0;
  if (key.resource === 'customresourcedefinitions' && key.group === 'apiextensions.k8s.io') return 1;
  return 2;
}

/**
 * CustomResourceDefinitions seen in the first pass (namespaces) are held until it ends and written then, which saves
 * a whole pass over the backup (decompress, parse) for a cluster that has any. Their keys sort before the
 * namespaces', so they cannot be written as they come. Real clusters hold a few MB of them; beyond this they get a
 * pass of their own.
 */
export const CRD_HOLD_BYTES = 16 * 1024 * 1024;

/**
 * The passes of a key restore over a backup, in phase order without keeping keys in memory: the first pass writes
 * the namespaces and counts the keys of the later phases, holding the CRDs while they fit in `holdBytes` (to be
 * written as soon as it ends); after it, a pass is made only for a phase that has keys, and none for CRDs held.
 */
export class RestorePasses<T> {
  private readonly counts = [0, 0, 0];
  /** CRDs held through the first pass; undefined once they outgrew the limit. */
  private held: T[] | undefined = [];
  private heldBytes = 0;

  constructor(private readonly holdBytes: number = CRD_HOLD_BYTES) {}

  /** The first pass met a key of `phase` (`bytes` of key and value): true when it is written now. */
  firstPass(phase: RestorePhase, item: T, bytes: number): boolean {
    this.counts[phase]!++;
    if (phase === 1 && this.held !== undefined) {
      this.heldBytes += bytes;
      if (this.heldBytes > this.holdBytes) this.held = undefined;
      else this.held.push(item);
    }
    return phase === 0;
  }

  /** The CRDs held through the first pass, to write when it ends (none when they get their own pass); given once. */
  takeHeld(): { items: T[]; bytes: number } {
    const items = this.held ?? [];
    if (this.held !== undefined) this.held = [];
    return { items, bytes: this.heldBytes };
  }

  /** The phases that need a pass of their own after the first, in order. */
  laterPhases(): RestorePhase[] {
    return ([1, 2] as const).filter((p) => this.counts[p]! > 0 && !(p === 1 && this.held !== undefined));
  }
}

export type RestoreAction = 'create' | 'update' | 'unchanged' | 'skipped';
export type SkipReason = 'filtered' | 'exists' | 'expired';

/** What the target etcd holds for a key. */
export interface ExistingKey {
  value: Buffer;
  /** True when the existing key is attached to a lease (or has a v2 TTL). */
  expiring: boolean;
}

export interface RestoreDecision {
  action: RestoreAction;
  reason?: SkipReason;
}

/**
 * What to do with one key of a dump, given what the target holds. Keys whose lease had run out when they were
 * dumped are skipped (restoring them would make them permanent, or expire them at once); `skipExisting` leaves
 * present keys alone; a key equal in value and expiry is unchanged and not rewritten.
 */
export function decideRestore(record: Pick<KeyRecord, 'value' | 'lease' | 'ttl'>, existing: ExistingKey | undefined, opts: { skipExisting: boolean }): RestoreDecision {
  if (record.ttl !== undefined && record.ttl <= 0) return { action: 'skipped', reason: 'expired' };
  if (existing === undefined) return { action: 'create' };
  if (opts.skipExisting) return { action: 'skipped', reason: 'exists' };
  if (existing.value.equals(record.value) && existing.expiring === isExpiring(record)) return { action: 'unchanged' };
  return { action: 'update' };
}

export interface PlanRow {
  resource: string;
  create: number;
  update: number;
  unchanged: number;
  skipped: number;
}

export interface PlanTotals extends Omit<PlanRow, 'resource'> {
  keys: number;
  skippedBy: Record<SkipReason, number>;
}

/** Counts of decisions per resource: the `--dry-run` plan, and the report of a real restore. */
export class RestorePlan {
  private readonly rowsByResource = new Map<string, PlanRow>();
  private readonly skippedBy: Record<SkipReason, number> = { filtered: 0, exists: 0, expired: 0 };

  add(resource: string, decision: RestoreDecision): void {
    let row = this.rowsByResource.get(resource);
    if (!row) {
      row = { resource, create: 0, update: 0, unchanged: 0, skipped: 0 };
      this.rowsByResource.set(resource, row);
    }
    row[decision.action]++;
    if (decision.reason) this.skippedBy[decision.reason]++;
  }

  /** One row per resource, by name. */
  rows(): PlanRow[] {
    return [...this.rowsByResource.values()].sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
  }

  totals(): PlanTotals {
    const t: PlanTotals = { keys: 0, create: 0, update: 0, unchanged: 0, skipped: 0, skippedBy: { ...this.skippedBy } };
    for (const r of this.rowsByResource.values()) {
      t.create += r.create;
      t.update += r.update;
      t.unchanged += r.unchanged;
      t.skipped += r.skipped;
    }
    t.keys = t.create + t.update + t.unchanged + t.skipped;
    return t;
  }
}
