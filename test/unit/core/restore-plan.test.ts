import { describe, expect, it } from 'vitest';
import { RestorePlan, decideRestore, restorePhase } from '../../../src/core/restore-plan.js';
import { parseKey } from '../../../src/kube/index.js';

const v = (s: string) => Buffer.from(s);

describe('restore plan', () => {
  it('orders namespaces, then CRDs, then everything else', () => {
    expect(restorePhase(parseKey('/registry/namespaces/default'))).toBe(0);
    expect(restorePhase(parseKey('/kubernetes.io/namespaces/openshift'))).toBe(0);
    expect(restorePhase(parseKey('/registry/apiextensions.k8s.io/customresourcedefinitions/w.example.com'))).toBe(1);
    expect(restorePhase(parseKey('/registry/example.com/widgets/default/w'))).toBe(2);
    expect(restorePhase(parseKey('/registry/pods/namespaces/x'))).toBe(2);
    expect(restorePhase(parseKey('/registry/namespaces'))).toBe(2);
    expect(restorePhase(parseKey('compact_rev_key'))).toBe(2);
  });

  it('creates absent keys, updates different ones, leaves equal ones unchanged', () => {
    const opts = { skipExisting: false };
    expect(decideRestore({ value: v('a') }, undefined, opts)).toEqual({ action: 'create' });
    expect(decideRestore({ value: v('a') }, { value: v('b'), expiring: false }, opts)).toEqual({ action: 'update' });
    expect(decideRestore({ value: v('a') }, { value: v('a'), expiring: false }, opts)).toEqual({ action: 'unchanged' });
    // Same value, but the backup's key expires and the target's does not (or the other way): rewrite it.
    expect(decideRestore({ value: v('a'), lease: '1', ttl: 60 }, { value: v('a'), expiring: false }, opts)).toEqual({ action: 'update' });
    expect(decideRestore({ value: v('a') }, { value: v('a'), expiring: true }, opts)).toEqual({ action: 'update' });
    expect(decideRestore({ value: v('a'), ttl: 60 }, { value: v('a'), expiring: true }, opts)).toEqual({ action: 'unchanged' });
  });

  it('--skip-existing leaves present keys alone; expired leases are never restored', () => {
    expect(decideRestore({ value: v('a') }, { value: v('b'), expiring: false }, { skipExisting: true })).toEqual({ action: 'skipped', reason: 'exists' });
    expect(decideRestore({ value: v('a') }, undefined, { skipExisting: true })).toEqual({ action: 'create' });
    expect(decideRestore({ value: v('a'), lease: '5', ttl: 0 }, undefined, { skipExisting: false })).toEqual({ action: 'skipped', reason: 'expired' });
  });

  it('counts per resource and in total, with skip reasons', () => {
    const plan = new RestorePlan();
    plan.add('pods', { action: 'create' });
    plan.add('pods', { action: 'create' });
    plan.add('pods', { action: 'unchanged' });
    plan.add('configmaps', { action: 'update' });
    plan.add('events', { action: 'skipped', reason: 'expired' });
    plan.add('secrets', { action: 'skipped', reason: 'filtered' });
    expect(plan.rows()).toEqual([
      { resource: 'configmaps', create: 0, update: 1, unchanged: 0, skipped: 0 },
      { resource: 'events', create: 0, update: 0, unchanged: 0, skipped: 1 },
      { resource: 'pods', create: 2, update: 0, unchanged: 1, skipped: 0 },
      { resource: 'secrets', create: 0, update: 0, unchanged: 0, skipped: 1 },
    ]);
    expect(plan.totals()).toEqual({ keys: 6, create: 2, update: 1, unchanged: 1, skipped: 2, skippedBy: { filtered: 1, exists: 0, expired: 1 } });
  });
});
