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
