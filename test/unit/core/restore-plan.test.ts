import { describe, expect, it } from 'vitest';
import { RestorePasses, RestorePlan, decideRestore, restorePhase } from '../../../src/core/restore-plan.js';
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

describe('restore passes', () => {
  /** Runs the passes over `phases` (one key each, of `bytes` bytes) as a restore does; returns what each pass wrote. */
  function schedule(phases: Array<0 | 1 | 2>, holdBytes: number, bytes = 10): { passes: string[][]; held: string[] } {
    const passes = new RestorePasses<string>(holdBytes);
    const keys = phases.map((p, i) => ({ p, name: `k${i}:${p}` }));
    const first = keys.filter((k) => passes.firstPass(k.p, k.name, bytes)).map((k) => k.name);
    const held = passes.takeHeld().items;
    const later = passes.laterPhases().map((phase) => keys.filter((k) => k.p === phase).map((k) => k.name));
    return { passes: [first, ...later], held };
  }

  it('writes the namespaces in the first pass and holds the CRDs through it: no pass of their own', () => {
    const got = schedule([1, 2, 0, 1, 2, 0], 100);
    expect(got.passes).toEqual([['k2:0', 'k5:0'], ['k1:2', 'k4:2']]);
    expect(got.held).toEqual(['k0:1', 'k3:1']);
  });

  it('gives the CRDs their own pass once they outgrow what may be held, and holds none of them', () => {
    const got = schedule([1, 2, 0, 1, 1], 25);
    expect(got.held).toEqual([]);
    expect(got.passes).toEqual([['k2:0'], ['k0:1', 'k3:1', 'k4:1'], ['k1:2']]);
  });

  it('makes no pass for a phase without keys', () => {
    expect(schedule([0, 0], 100).passes).toEqual([['k0:0', 'k1:0']]);
    expect(schedule([2, 2], 100).passes).toEqual([[], ['k0:2', 'k1:2']]);
    expect(schedule([], 100).passes).toEqual([[]]);
  });

  it('gives the held CRDs once, with their bytes', () => {
    const passes = new RestorePasses<string>(100);
    passes.firstPass(1, 'crd', 30);
    expect(passes.takeHeld()).toEqual({ items: ['crd'], bytes: 30 });
    expect(passes.takeHeld().items).toEqual([]);
    expect(passes.laterPhases()).toEqual([]);
  });
});
