import { describe, expect, it } from 'vitest';
import { parseCheckpointTargets, selectCheckpointContainers, type TargetPod } from '../../../src/core/checkpoint-targets.js';

const pod = (namespace: string, name: string, containers: Array<[string, string?]>): TargetPod => ({
  namespace,
  name,
  uid: `uid-${name}`,
  containers: containers.map(([n, state]) => ({ name: n, state: state ?? 'running' })),
});

const pods: TargetPod[] = [
  pod('shop', 'web-7d9f', [['app'], ['envoy']]),
  pod('shop', 'db-0', [['postgres'], ['exporter', 'waiting']]),
  pod('default', 'web', [['app'], ['log-shipper']]),
  pod('default', 'job-x', [['run', 'terminated']]),
  pod('kube-system', 'kube-proxy-abc', [['kube-proxy']]),
];

const keys = (sel: ReturnType<typeof selectCheckpointContainers>) => sel.containers.map((c) => `${c.namespace}/${c.pod}/${c.container}`);

describe('parseCheckpointTargets', () => {
  it('reads namespace/pod/container, with * for a pod or a container, and ns/pod as every container', () => {
    expect(parseCheckpointTargets(' shop/* , default/web/*,default/web/app, shop/*/app ,default/web')).toEqual([
      { namespace: 'shop', pod: '*', container: '*', text: 'shop/*' },
      { namespace: 'default', pod: 'web', container: '*', text: 'default/web/*' },
      { namespace: 'default', pod: 'web', container: 'app', text: 'default/web/app' },
      { namespace: 'shop', pod: '*', container: 'app', text: 'shop/*/app' },
      { namespace: 'default', pod: 'web', container: '*', text: 'default/web' },
    ]);
  });

  it('refuses a * namespace, saying why', () => {
    expect(() => parseCheckpointTargets('*/web/app')).toThrow(/"\*\/web\/app": the namespace cannot be \*/);
    expect(() => parseCheckpointTargets('*/*')).toThrow(/namespace cannot be \*/);
  });

  it('names every bad entry and what is wrong with it', () => {
    let message = '';
    try {
      parseCheckpointTargets('shop, Shop/web/app, default/web-*/app, a/b/c/d, default/web_1/app, ok/pod/c');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('"shop", which names no pod: write shop/* for every pod');
    expect(message).toContain('"Shop/web/app": "Shop" is not a namespace name');
    expect(message).toContain('"default/web-*/app": * stands for a whole pod name');
    expect(message).toContain('"a/b/c/d", which is not namespace/pod/container');
    expect(message).toContain('"default/web_1/app": "web_1" is not a pod name');
    expect(message).not.toContain('ok/pod/c');
  });

  it('refuses an empty list and names longer than Kubernetes allows', () => {
    expect(() => parseCheckpointTargets(' , ,')).toThrow(/names no container/);
    expect(() => parseCheckpointTargets(`shop/web/${'c'.repeat(64)}`)).toThrow(/is not a container name/);
    expect(() => parseCheckpointTargets(`${'n'.repeat(64)}/*`)).toThrow(/is not a namespace name/);
    expect(parseCheckpointTargets(`shop/${'p'.repeat(253)}/c`)[0]!.pod).toHaveLength(253);
    expect(() => parseCheckpointTargets(`shop/${'p'.repeat(254)}/c`)).toThrow(/is not a pod name/);
  });
});

describe('selectCheckpointContainers', () => {
  it('selects running containers, sorted and each once, across overlapping targets', () => {
    const sel = selectCheckpointContainers(parseCheckpointTargets('shop/*, shop/web-7d9f/app, default/web/app'), pods);
    expect(keys(sel)).toEqual(['default/web/app', 'shop/db-0/postgres', 'shop/web-7d9f/app', 'shop/web-7d9f/envoy']);
    expect(sel.containers.find((c) => c.pod === 'db-0')!.podUid).toBe('uid-db-0');
    expect(sel.unmatched).toEqual([]);
    expect(sel.skipped).toEqual([{ namespace: 'shop', pod: 'db-0', container: 'exporter', state: 'waiting' }]);
  });

  it('takes a container name across the pods of a namespace, and every container of one pod', () => {
    expect(keys(selectCheckpointContainers(parseCheckpointTargets('shop/*/app'), pods))).toEqual(['shop/web-7d9f/app']);
    expect(keys(selectCheckpointContainers(parseCheckpointTargets('default/web'), pods))).toEqual(['default/web/app', 'default/web/log-shipper']);
  });

  it('reports targets that matched nothing, with the reason', () => {
    const sel = selectCheckpointContainers(
      parseCheckpointTargets('shop/web-7d9f/nope, shop/ghost/app, default/job-x/run, default/job-x/*, monitoring/*, shop/*/nope, shop/db-0/exporter'),
      pods,
    );
    expect(sel.containers).toEqual([]);
    expect(sel.unmatched.map((u) => `${u.target.text}: ${u.why}`)).toEqual([
      'shop/web-7d9f/nope: no container nope in pod shop/web-7d9f',
      'shop/ghost/app: no pod shop/ghost on this node',
      'default/job-x/run: container default/job-x/run is not running (terminated)',
      'default/job-x/*: no container of default/job-x/* is running',
      'monitoring/*: no pod of namespace monitoring runs on this node',
      'shop/*/nope: no container nope in any pod of shop',
      'shop/db-0/exporter: container shop/db-0/exporter is not running (waiting)',
    ]);
  });

  it('a container skipped by a wildcard but named by another target is reported once, as unmatched', () => {
    const sel = selectCheckpointContainers(parseCheckpointTargets('shop/db-0/*, shop/db-0/exporter'), pods);
    expect(keys(sel)).toEqual(['shop/db-0/postgres']);
    expect(sel.unmatched.map((u) => u.target.text)).toEqual(['shop/db-0/exporter']);
    expect(sel.skipped.map((s) => s.container)).toEqual(['exporter']);
  });
});
