import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KNOWN_VARIABLES } from '../../../src/config/load-config.js';
import { unknownFields, validateSchema } from './kube-schema.js';

type Doc = Record<string, any>;

const DIR = new URL('../../../manifests/', import.meta.url).pathname;
const yamlFiles = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
const known = new Set<string>(KNOWN_VARIABLES);

function parseFile(file: string): Doc[] {
  const docs = parseAllDocuments(readFileSync(join(DIR, file), 'utf8'));
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
  }
  return list.map((d) => d.toJS() as Doc).filter((d) => d !== null);
}
const byFile = new Map(yamlFiles.map((f) => [f, parseFile(f)]));
const kube = [...byFile].flatMap(([file, docs]) => docs.filter((d) => d.kind !== 'Kustomization').map((doc) => ({ name: `${file} ${doc.kind}/${doc.metadata?.name}`, doc })));
const one = (file: string, kind: string): Doc => {
  const d = byFile.get(file)?.find((x) => x.kind === kind);
  if (!d) throw new Error(`${file} has no ${kind}`);
  return d;
};
const podSpec = (d: Doc): Doc => (d.kind === 'CronJob' ? d.spec.jobTemplate.spec.template.spec : d.spec.template.spec);
const secret = one('secret.example.yaml', 'Secret');

/** Every variable a workload sets: its env entries and the keys of the Secrets it imports whole. */
function variablesOf(d: Doc): string[] {
  return podSpec(d).containers.flatMap((c: Doc) => [
    ...(c.env ?? []).map((e: Doc) => e.name as string),
    ...(c.envFrom ?? []).flatMap((f: Doc) => {
      expect(f.secretRef?.name, 'envFrom names the example Secret').toBe(secret.metadata.name);
      return Object.keys({ ...secret.stringData, ...secret.data });
    }),
  ]);
}
const envOf = (d: Doc): Record<string, string> =>
  Object.fromEntries(podSpec(d).containers[0].env.map((e: Doc) => [e.name, String(e.value)]));

/** systemd unit files: section -> key -> values (keys may repeat). */
function parseUnit(file: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of readFileSync(join(DIR, 'systemd', file), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(\w+)\]$/.exec(line);
    if (head) {
      section = head[1]!;
      out[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 1) throw new Error(`${file}: cannot parse ${JSON.stringify(line)}`);
    ((out[section]![line.slice(0, eq)] ??= [])).push(line.slice(eq + 1));
  }
  return out;
}

describe('manifests', () => {
  it('has every expected file', () => {
    for (const f of ['cronjob.yaml', 'secret.example.yaml', 'deployment.yaml', 'service.yaml', 'servicemonitor.example.yaml', 'kustomization.yaml']) {
      expect(yamlFiles).toContain(f);
    }
    for (const f of ['reshifter.service', 'reshifter.timer', 'reshifter.env.example']) expect(existsSync(join(DIR, 'systemd', f))).toBe(true);
  });

  it('validates every Kubernetes object against the API schemas', async () => {
    expect(kube.length).toBeGreaterThanOrEqual(5);
    const problems: string[] = [];
    for (const { name, doc } of kube) problems.push(...(await validateSchema(doc as { apiVersion: string; kind: string })).map((p) => `${name}: ${p}`));
    expect(problems).toEqual([]);
  });

  it('uses no field the API does not know (typos pass the JSON schemas)', () => {
    expect(unknownFields(kube as Array<{ name: string; doc: { apiVersion: string; kind: string } }>)).toEqual([]);
  }, 30_000);

  it('sets only variables the config module knows', () => {
    const unknown: string[] = [];
    for (const { name, doc } of kube.filter((k) => ['CronJob', 'Deployment'].includes(k.doc.kind))) {
      for (const v of variablesOf(doc)) if (!known.has(v)) unknown.push(`${name}: ${v}`);
    }
    // The env file, commented examples included: an operator uncomments them as they are.
    const envFile = readFileSync(join(DIR, 'systemd', 'reshifter.env.example'), 'utf8');
    const fromFile = [...envFile.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
    expect(fromFile.length).toBeGreaterThan(10);
    for (const v of fromFile) if (!known.has(v)) unknown.push(`reshifter.env.example: ${v}`);
    for (const e of parseUnit('reshifter.service').Service!.Environment ?? []) {
      const v = e.split('=')[0]!;
      if (!known.has(v)) unknown.push(`reshifter.service: ${v}`);
    }
    expect(unknown).toEqual([]);
  });

  it('cronjob.yaml runs one backup at a time on a kubeadm control-plane node with the etcd certificates read-only', () => {
    const cj = one('cronjob.yaml', 'CronJob');
    expect(cj.spec.concurrencyPolicy).toBe('Forbid');
    expect(cj.spec.successfulJobsHistoryLimit).toBeGreaterThan(0);
    expect(cj.spec.failedJobsHistoryLimit).toBeGreaterThan(0);
    const pod = podSpec(cj);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.restartPolicy).toBe('Never');
    expect(Object.keys(pod.nodeSelector)).toContain('node-role.kubernetes.io/control-plane');
    const vol = pod.volumes.find((v: Doc) => v.hostPath?.path === '/etc/kubernetes/pki/etcd');
    expect(vol).toBeDefined();
    const [c] = pod.containers;
    expect(c.args).toEqual(['backup']);
    const mount = c.volumeMounts.find((m: Doc) => m.name === vol.name);
    expect(mount).toMatchObject({ readOnly: true });
    expect(c.resources.requests).toBeDefined();
    expect(c.resources.limits.memory).toBeDefined();
    const env = envOf(cj);
    expect(env.RS_ETCD_ENDPOINTS).toMatch(/^https:\/\/127\.0\.0\.1:2379$/);
    for (const v of ['RS_ETCD_CA_CERT', 'RS_ETCD_CLIENT_CERT', 'RS_ETCD_CLIENT_KEY']) expect(env[v]!.startsWith(`${mount.mountPath}/`), v).toBe(true);
    // Credentials come from the Secret, never inline.
    for (const v of ['ACCESS_KEY_ID', 'SECRET_ACCESS_KEY']) expect(env[v]).toBeUndefined();
  });

  it('deployment.yaml and service.yaml agree on labels, ports and the probes', () => {
    const dep = one('deployment.yaml', 'Deployment');
    const svc = one('service.yaml', 'Service');
    const sm = one('servicemonitor.example.yaml', 'ServiceMonitor');
    const labels = dep.spec.template.metadata.labels;
    expect(dep.spec.selector.matchLabels).toEqual(labels);
    expect(dep.spec.replicas).toBe(1);
    expect(dep.spec.strategy.type).toBe('Recreate');
    const [c] = podSpec(dep).containers;
    expect(c.args).toEqual(['run']);
    const env = envOf(dep);
    const port = c.ports.find((p: Doc) => p.name === 'http');
    expect(String(port.containerPort)).toBe(env.RS_HTTP_PORT);
    expect(env.RS_SCHEDULE).toBeDefined();
    expect(c.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.livenessProbe.httpGet.path).toMatch(/^\/(livez|healthz)$/);
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(labels[k]).toBe(v);
    expect(svc.spec.ports[0].targetPort).toBe('http');
    expect(svc.metadata.annotations['prometheus.io/scrape']).toBe('true');
    expect(svc.metadata.annotations['prometheus.io/port']).toBe(env.RS_HTTP_PORT);
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
    expect(sm.spec.endpoints[0].port).toBe(svc.spec.ports[0].name);
  });

  it('kustomization.yaml ties the long-running mode together', () => {
    const k = one('kustomization.yaml', 'Kustomization');
    expect(k.apiVersion).toBe('kustomize.config.k8s.io/v1beta1');
    expect(k.resources).toEqual(expect.arrayContaining(['deployment.yaml', 'service.yaml']));
    for (const r of k.resources) expect(existsSync(join(DIR, r)), r).toBe(true);
    // The example ServiceMonitor needs the operator's CRDs, and the CronJob is the other mode.
    expect(k.resources).not.toContain('servicemonitor.example.yaml');
    expect(k.resources).not.toContain('cronjob.yaml');
    const images = new Set(kube.flatMap(({ doc }) => (['CronJob', 'Deployment'].includes(doc.kind) ? podSpec(doc).containers.map((c: Doc) => c.image.split(':')[0]) : [])));
    for (const img of k.images) expect(images.has(img.name), img.name).toBe(true);
  });

  const kubectl = (() => {
    try {
      execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  it.skipIf(!kubectl)('renders with kubectl kustomize, and the result validates', async () => {
    const out = execFileSync('kubectl', ['kustomize', DIR], { encoding: 'utf8' });
    const docs = parseAllDocuments(out);
    const rendered = (Array.isArray(docs) ? docs : [docs]).map((d) => d.toJS() as Doc);
    expect(rendered.map((d) => d.kind).sort()).toEqual(['Deployment', 'Service']);
    for (const d of rendered) {
      expect(d.metadata.namespace).toBe('kube-system');
      expect(await validateSchema(d as { apiVersion: string; kind: string })).toEqual([]);
    }
  });

  it('systemd: a oneshot backup service, started by a timer, configured by the env file', () => {
    const svc = parseUnit('reshifter.service');
    const timer = parseUnit('reshifter.timer');
    expect(svc.Service!.Type).toEqual(['oneshot']);
    const [exec] = svc.Service!.ExecStart!;
    expect(exec).toMatch(/^\/\S+ backup$/);
    expect(svc.Service!.EnvironmentFile).toEqual(['/etc/reshifter/reshifter.env']);
    expect(svc.Service!.User).toBeDefined();
    expect(timer.Timer!.Unit).toEqual(['reshifter.service']);
    expect(timer.Timer!.OnCalendar).toHaveLength(1);
    expect(timer.Timer!.Persistent).toEqual(['true']);
    expect(timer.Install!.WantedBy).toEqual(['timers.target']);
    // The env file is systemd's syntax: NAME=value lines and comments only.
    for (const line of readFileSync(join(DIR, 'systemd', 'reshifter.env.example'), 'utf8').split('\n')) {
      expect(line === '' || line.startsWith('#') || /^[A-Z][A-Z0-9_]*=\S*$/.test(line), line).toBe(true);
    }
  });

  const analyze = (() => {
    try {
      execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  it.skipIf(!analyze)('systemd-analyze accepts the timer calendar', () => {
    const cal = parseUnit('reshifter.timer').Timer!.OnCalendar![0]!;
    const out = execFileSync('systemd-analyze', ['calendar', cal], { encoding: 'utf8' });
    expect(out).toMatch(/Normalized form: \*-\*-\* 00\/6:00:00/);
  });
});
