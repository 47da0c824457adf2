import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../src/cli.js';
import { KNOWN_VARIABLES, loadConfig, type Env } from '../../../src/config/load-config.js';
import { envOf, kustomize, parseDocs, podSpec, type Doc } from './kustomize.js';
import { unknownFields, validateSchema } from './kube-schema.js';
import { validateScc } from './openshift-scc.js';

/** The Secret and key an env variable of the workload's container is read from (valueFrom.secretKeyRef). */
const secretRefOf = (d: Doc, name: string): unknown => (podSpec(d).containers[0].env as Doc[]).find((e) => e.name === name)?.valueFrom?.secretKeyRef;

const DIR = new URL('../../../manifests/', import.meta.url).pathname;
const known = new Set<string>(KNOWN_VARIABLES);
const read = (file: string): Doc[] => parseDocs(readFileSync(join(DIR, file), 'utf8'), file);
const secret = read('secret.example.yaml')[0]!;

/** Every overlay an operator builds: distribution x mode. */
const OVERLAYS = {
  'overlays/kubeadm': { namespace: 'kube-system', mode: 'scheduler' },
  'overlays/kubeadm/cronjob': { namespace: 'kube-system', mode: 'cronjob' },
  'overlays/k3s': { namespace: 'kube-system', mode: 'scheduler' },
  'overlays/k3s/cronjob': { namespace: 'kube-system', mode: 'cronjob' },
  'overlays/openshift': { namespace: 'openshift-etcd', mode: 'scheduler' },
  'overlays/openshift/cronjob': { namespace: 'openshift-etcd', mode: 'cronjob' },
} as const;
type Overlay = keyof typeof OVERLAYS;
const built = new Map<string, Doc[]>();
const build = (dir: string): Doc[] => {
  if (!built.has(dir)) built.set(dir, kustomize(join(DIR, dir)));
  return built.get(dir)!;
};
const workload = (dir: Overlay): Doc => {
  const w = build(dir).filter((d) => d.kind === 'Deployment' || d.kind === 'CronJob');
  expect(w, `${dir} holds one workload`).toHaveLength(1);
  return w[0]!;
};
const CLUSTER_SCOPED = new Set(['SecurityContextConstraints', 'ClusterRole', 'ClusterRoleBinding', 'Namespace']);

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

/** Every kustomization.yaml under manifests/, as a path relative to it. */
function kustomizations(dir = DIR): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return kustomizations(p);
    return f === 'kustomization.yaml' ? [relative(DIR, dir) || '.'] : [];
  });
}

describe('overlays', () => {
  it('every kustomization builds, and the overlays are every distribution in both modes', () => {
    const all = kustomizations();
    for (const o of Object.keys(OVERLAYS)) expect(all).toContain(o);
    // Components only patch what an overlay brings; every other kustomization yields objects of its own.
    for (const k of all.filter((k) => !k.startsWith('components/'))) expect(build(k).length, k).toBeGreaterThan(0);
    for (const c of ['kubeadm', 'k3s', 'openshift']) expect(all).toContain(`components/${c}`);
  });

  it('every object of every overlay validates against its API schema, with no unknown field', async () => {
    const problems: string[] = [];
    const docs: Array<{ name: string; doc: { apiVersion: string; kind: string } }> = [];
    for (const o of [...Object.keys(OVERLAYS), 'monitoring']) {
      for (const doc of build(o)) {
        const name = `${o}: ${doc.kind}/${doc.metadata?.name}`;
        if (doc.kind === 'SecurityContextConstraints') {
          problems.push(...validateScc(doc).map((p) => `${name}: ${p}`));
          continue;
        }
        problems.push(...(await validateSchema(doc as { apiVersion: string; kind: string })).map((p) => `${name}: ${p}`));
        docs.push({ name, doc: doc as { apiVersion: string; kind: string } });
      }
    }
    expect(problems).toEqual([]);
    expect(unknownFields(docs)).toEqual([]);
  }, 60_000);

  it('puts every namespaced object in the overlay namespace and leaves cluster-scoped ones without one', () => {
    for (const [o, { namespace }] of Object.entries(OVERLAYS)) {
      for (const d of build(o)) {
        if (CLUSTER_SCOPED.has(d.kind)) expect(d.metadata.namespace, `${o} ${d.kind}`).toBeUndefined();
        else expect(d.metadata.namespace, `${o} ${d.kind}`).toBe(namespace);
      }
    }
  });

  it('kubectl apply -k manifests/ is still the long-running mode on kubeadm', () => {
    expect(build('.')).toEqual(build('overlays/kubeadm'));
    expect(build('.').map((d) => d.kind).sort()).toEqual(['Deployment', 'Service']);
  });

  it('sets only variables the config module knows, and never a credential inline', () => {
    const unknown: string[] = [];
    for (const o of Object.keys(OVERLAYS) as Overlay[]) {
      const w = workload(o);
      for (const v of variablesOf(w)) if (!known.has(v)) unknown.push(`${o}: ${v}`);
      // From the Secret (envFrom, or valueFrom.secretKeyRef), never a value written in the manifest.
      for (const v of ['ACCESS_KEY_ID', 'SECRET_ACCESS_KEY', 'RS_ENCRYPTION_PASSPHRASE', 'RS_API_TOKEN']) expect(envOf(w)[v], `${o} ${v}`).toSatisfy((x: string | undefined) => x === undefined || x === 'undefined');
      if (w.kind === 'Deployment') expect(secretRefOf(w, 'RS_API_TOKEN'), `${o}: run's API token comes from the Secret`).toEqual({ name: 'reshifter-credentials', key: 'RS_API_TOKEN' });
    }
    // The env file, commented examples included: an operator uncomments them as they are.
    const envFile = readFileSync(join(DIR, 'systemd', 'reshifter.env.example'), 'utf8');
    const fromFile = [...envFile.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
    expect(fromFile.length).toBeGreaterThan(10);
    expect(fromFile).toContain('RS_API_TOKEN');
    for (const v of fromFile) if (!known.has(v)) unknown.push(`reshifter.env.example: ${v}`);
    for (const e of parseUnit('reshifter.service').Service!.Environment ?? []) {
      const v = e.split('=')[0]!;
      if (!known.has(v)) unknown.push(`reshifter.service: ${v}`);
    }
    expect(unknown).toEqual([]);
    // The API token reaches `run` from the Secret, never from the manifest.
    expect(Object.keys(secret.stringData)).toContain('RS_API_TOKEN');
    expect(secret.metadata.namespace, 'the example Secret goes into the namespace of the chosen overlay').toBeUndefined();
  });

  // A copy of the example applied unedited ran with a token and a passphrase anyone can read here: the API's writes
  // (restores, deletes) open to every pod on the node's network, new backups encrypted for everyone. Exit 0, no word.
  it("the example Secret's placeholder token and passphrase are refused where they would protect something", () => {
    const { RS_API_TOKEN: token, RS_ENCRYPTION_PASSPHRASE: passphrase } = secret.stringData as Record<string, string>;
    const errorsOf = (command: string, env: Env) => loadConfig(env, { groups: new Set(COMMANDS[command]!.uses) }).errors ?? [];
    const placeholder = /\(hidden\) is still the placeholder of manifests\/secret.example.yaml \("replace-with-\.\.\."\), which anyone can read: give /;
    expect(errorsOf('run', { RS_API_TOKEN: token })).toEqual([expect.stringMatching(new RegExp(`^RS_API_TOKEN was invalid: ${placeholder.source}a token of your own`))]);
    for (const command of ['backup', 'run']) {
      expect(errorsOf(command, { RS_ENCRYPTION_PASSPHRASE: passphrase }), command).toEqual([expect.stringMatching(new RegExp(`^RS_ENCRYPTION_PASSPHRASE was invalid: ${placeholder.source}a long random passphrase`))]);
    }
    // Backups already taken with the placeholder stay readable; a backup ignores the token of an API it does not serve.
    for (const command of ['restore', 'verify', 'list', 'inspect']) expect(errorsOf(command, { RS_ENCRYPTION_PASSPHRASE: passphrase }), command).toEqual([]);
    expect(errorsOf('backup', { RS_API_TOKEN: token })).toEqual([]);
    expect(errorsOf('run', { RS_API_TOKEN: 'a-token-of-my-own-0123456789', RS_ENCRYPTION_PASSPHRASE: 'a passphrase of my own, long' })).toEqual([]);
  });

  it('each distribution reaches etcd on 127.0.0.1 over the host network with read-only certificates it mounts', () => {
    for (const o of Object.keys(OVERLAYS) as Overlay[]) {
      const w = workload(o);
      const pod = podSpec(w);
      const [c] = pod.containers;
      const env = envOf(w);
      expect(pod.hostNetwork, o).toBe(true);
      expect(env.RS_ETCD_ENDPOINTS, o).toBe('https://127.0.0.1:2379');
      const mount = c.volumeMounts.find((m: Doc) => m.name === 'etcd-certs');
      expect(mount, o).toMatchObject({ readOnly: true });
      for (const v of ['RS_ETCD_CA_CERT', 'RS_ETCD_CLIENT_CERT', 'RS_ETCD_CLIENT_KEY']) expect(env[v]!.startsWith(`${mount.mountPath}/`), `${o} ${v}`).toBe(true);
      expect(pod.volumes.filter((v: Doc) => v.name === 'etcd-certs'), o).toHaveLength(1);
      expect(c.securityContext, o).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(pod.securityContext.seccompProfile, o).toEqual({ type: 'RuntimeDefault' });
      expect(c.args, o).toEqual([OVERLAYS[o].mode === 'cronjob' ? 'backup' : 'run']);
    }
  });

  it('kubeadm: a control-plane node, the health-check client certificate from /etc/kubernetes/pki/etcd, as root', () => {
    for (const o of ['overlays/kubeadm', 'overlays/kubeadm/cronjob'] as const) {
      const pod = podSpec(workload(o));
      expect(pod.nodeSelector).toEqual({ 'node-role.kubernetes.io/control-plane': '' });
      expect(pod.tolerations).toContainEqual({ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' });
      expect(pod.volumes.find((v: Doc) => v.name === 'etcd-certs').hostPath).toEqual({ path: '/etc/kubernetes/pki/etcd', type: 'Directory' });
      expect(envOf(workload(o))).toMatchObject({
        RS_ETCD_CA_CERT: '/etc/kubernetes/pki/etcd/ca.crt',
        RS_ETCD_CLIENT_CERT: '/etc/kubernetes/pki/etcd/healthcheck-client.crt',
        RS_ETCD_CLIENT_KEY: '/etc/kubernetes/pki/etcd/healthcheck-client.key',
      });
      expect(pod.securityContext).toMatchObject({ runAsUser: 0, runAsGroup: 0 });
    }
  });

  it('k3s: a server node (control-plane=true), the certificates in /var/lib/rancher/k3s/server/tls/etcd, as root', () => {
    for (const o of ['overlays/k3s', 'overlays/k3s/cronjob'] as const) {
      const pod = podSpec(workload(o));
      expect(pod.nodeSelector).toEqual({ 'node-role.kubernetes.io/control-plane': 'true' });
      expect(pod.tolerations).toContainEqual({ key: 'CriticalAddonsOnly', operator: 'Exists' });
      const dir = '/var/lib/rancher/k3s/server/tls/etcd';
      expect(pod.volumes.find((v: Doc) => v.name === 'etcd-certs').hostPath).toEqual({ path: dir, type: 'Directory' });
      expect(envOf(workload(o))).toMatchObject({ RS_ETCD_CA_CERT: `${dir}/server-ca.crt`, RS_ETCD_CLIENT_CERT: `${dir}/client.crt`, RS_ETCD_CLIENT_KEY: `${dir}/client.key` });
      expect(pod.securityContext).toMatchObject({ runAsUser: 0 });
    }
  });

  it('openshift: a master, the operator-managed etcd-client Secret and etcd-ca-bundle, as uid 1000 under its own SCC', () => {
    for (const o of ['overlays/openshift', 'overlays/openshift/cronjob'] as const) {
      const docs = build(o);
      const pod = podSpec(workload(o));
      expect(pod.nodeSelector).toEqual({ 'node-role.kubernetes.io/master': '' });
      expect(pod.tolerations).toContainEqual({ key: 'node-role.kubernetes.io/master', operator: 'Exists', effect: 'NoSchedule' });
      const sources = pod.volumes.find((v: Doc) => v.name === 'etcd-certs').projected.sources as Doc[];
      expect(sources.find((s) => s.secret)?.secret).toMatchObject({ name: 'etcd-client' });
      expect(sources.find((s) => s.configMap)?.configMap).toMatchObject({ name: 'etcd-ca-bundle', items: [{ key: 'ca-bundle.crt', path: 'ca.crt' }] });
      // The pod as the SCC admits it: host network, its uid and fsGroup, only the volume kinds it allows.
      const scc = docs.find((d) => d.kind === 'SecurityContextConstraints')!;
      expect(scc.allowHostNetwork).toBe(true);
      expect(scc.allowHostDirVolumePlugin).toBe(false);
      expect(scc.allowPrivilegedContainer).toBe(false);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: scc.runAsUser.uid, fsGroup: scc.fsGroup.ranges[0].min });
      for (const v of pod.volumes as Doc[]) expect(scc.volumes).toContain(Object.keys(v).find((k) => k !== 'name'));
      expect(pod.volumes.some((v: Doc) => v.hostPath)).toBe(false);
      // Only reshifter's ServiceAccount may use the SCC, through the Role in its namespace.
      const sa = docs.find((d) => d.kind === 'ServiceAccount')!;
      expect(pod.serviceAccountName).toBe(sa.metadata.name);
      const role = docs.find((d) => d.kind === 'Role')!;
      expect(role.rules).toEqual([{ apiGroups: ['security.openshift.io'], resources: ['securitycontextconstraints'], resourceNames: [scc.metadata.name], verbs: ['use'] }]);
      const rb = docs.find((d) => d.kind === 'RoleBinding')!;
      expect(rb.roleRef).toMatchObject({ kind: 'Role', name: role.metadata.name });
      expect(rb.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'openshift-etcd' }]);
      expect(scc.users).toEqual([]);
      expect(scc.groups).toEqual([]);
    }
  });

  it('the SCC schema check rejects what the API would: a typo, a namespace, an unknown strategy', () => {
    const scc = build('overlays/openshift').find((d) => d.kind === 'SecurityContextConstraints')!;
    expect(validateScc(scc)).toEqual([]);
    expect(validateScc({ ...scc, allowHostNetwrk: true }).join()).toMatch(/additional/);
    expect(validateScc({ ...scc, metadata: { ...scc.metadata, namespace: 'x' } })).not.toEqual([]);
    expect(validateScc({ ...scc, runAsUser: { type: 'MustRunAsRoot' } }).join()).toMatch(/allowed values/);
    const { volumes: _omit, ...noVolumes } = scc;
    expect(validateScc(noVolumes).join()).toMatch(/volumes/);
  });

  it('each component patches the Deployment and the CronJob with the same pod spec', () => {
    for (const c of ['kubeadm', 'k3s', 'openshift']) {
      const dep = read(`components/${c}/deployment-patch.yaml`)[0]!;
      const cj = read(`components/${c}/cronjob-patch.yaml`)[0]!;
      expect(podSpec(cj), c).toEqual(podSpec(dep));
    }
  });

  it('the CronJob runs one backup at a time and keeps some history', () => {
    for (const o of ['overlays/kubeadm/cronjob', 'overlays/k3s/cronjob', 'overlays/openshift/cronjob'] as const) {
      const cj = workload(o);
      expect(cj.spec.concurrencyPolicy).toBe('Forbid');
      expect(cj.spec.successfulJobsHistoryLimit).toBeGreaterThan(0);
      expect(cj.spec.failedJobsHistoryLimit).toBeGreaterThan(0);
      expect(podSpec(cj).restartPolicy).toBe('Never');
      const [c] = podSpec(cj).containers;
      expect(c.resources.requests).toBeDefined();
      expect(c.resources.limits.memory).toBeDefined();
    }
  });

  it('the Deployment, its Service and the ServiceMonitor agree on labels, ports and the probes', () => {
    const sm = build('monitoring').find((d) => d.kind === 'ServiceMonitor')!;
    for (const o of ['overlays/kubeadm', 'overlays/k3s', 'overlays/openshift'] as const) {
      const dep = workload(o);
      const svc = build(o).find((d) => d.kind === 'Service')!;
      const labels = dep.spec.template.metadata.labels;
      expect(dep.spec.selector.matchLabels).toEqual(labels);
      expect(dep.spec.replicas).toBe(1);
      expect(dep.spec.strategy.type).toBe('Recreate');
      const [c] = podSpec(dep).containers;
      const env = envOf(dep);
      const port = c.ports.find((p: Doc) => p.name === 'http');
      expect(String(port.containerPort)).toBe(env.RS_HTTP_PORT);
      expect(env.RS_SCHEDULE).toBeDefined();
      // Not /healthz: a failed backup would take the web UI and API off the Service (the ingress answers 503) just when
      // the operator needs them; the alerts of manifests/monitoring say it instead.
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(c.livenessProbe.httpGet.path).toMatch(/^\/(livez|healthz)$/);
      for (const [k, v] of Object.entries(svc.spec.selector)) expect(labels[k]).toBe(v);
      expect(svc.spec.ports[0].targetPort).toBe('http');
      expect(svc.metadata.annotations['prometheus.io/scrape']).toBe('true');
      expect(svc.metadata.annotations['prometheus.io/port']).toBe(env.RS_HTTP_PORT);
      for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
      expect(sm.spec.endpoints[0].port).toBe(svc.spec.ports[0].name);
    }
  });

  it('the monitoring kustomization ships the rules, the ServiceMonitor, the PodMonitor and the dashboard for the Grafana sidecar', () => {
    const docs = build('monitoring');
    expect(docs.map((d) => d.kind).sort()).toEqual(['ConfigMap', 'PodMonitor', 'PrometheusRule', 'ServiceMonitor']);
    const cm = docs.find((d) => d.kind === 'ConfigMap')!;
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    expect(cm.data['grafana-dashboard.json']).toBe(readFileSync(join(DIR, 'monitoring', 'grafana-dashboard.json'), 'utf8'));
  });
});

describe('checkpoint DaemonSet', () => {
  const docs = () => build('checkpoints');
  const ds = () => docs().find((d) => d.kind === 'DaemonSet')!;

  it('builds one DaemonSet that validates against its API schema, with no unknown field', async () => {
    expect(docs().map((d) => d.kind)).toEqual(['DaemonSet']);
    expect(await validateSchema(ds() as { apiVersion: string; kind: string })).toEqual([]);
    expect(unknownFields([{ name: 'checkpoints DaemonSet', doc: ds() as { apiVersion: string; kind: string } }])).toEqual([]);
    expect(ds().spec.selector.matchLabels).toEqual(ds().spec.template.metadata.labels);
  }, 60_000);

  it('checkpoints through the kubelet of its own node: the URL from the node IP, its name for the certificate', () => {
    const pod = podSpec(ds());
    const [c] = pod.containers;
    const env = Object.fromEntries((c.env as Doc[]).map((e) => [e.name, e]));
    expect(env.HOST_IP.valueFrom).toEqual({ fieldRef: { fieldPath: 'status.hostIP' } });
    expect(env.NODE_NAME.valueFrom).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
    expect(env.RS_BACKUP_STRATEGY.value).toBe('checkpoint');
    expect(env.RS_KUBELET_URL.value).toBe('https://$(HOST_IP):10250');
    expect(env.RS_KUBELET_SERVER_NAME.value).toBe('$(NODE_NAME)');
    expect(env.RS_CHECKPOINT_TARGETS.value).toBeDefined();
    expect(env.RS_SCHEDULE.value).toBeDefined();
    expect(c.args).toEqual(['run']);
    // Every variable is one the config module knows (HOST_IP and NODE_NAME only feed the others), none a credential.
    const unknown = Object.keys(env).filter((v) => !known.has(v) && v !== 'HOST_IP' && v !== 'NODE_NAME');
    expect(unknown).toEqual([]);
    for (const v of ['ACCESS_KEY_ID', 'SECRET_ACCESS_KEY', 'RS_ENCRYPTION_PASSPHRASE', 'RS_API_TOKEN']) expect(env[v]).toBeUndefined();
  });

  it("reads and deletes archives in the node's checkpoint folder, with the kubelet client credentials from a Secret", () => {
    const pod = podSpec(ds());
    const [c] = pod.containers;
    const env = envOf(ds());
    const volume = (name: string) => (pod.volumes as Doc[]).find((v) => v.name === name)!;
    const mountOf = (path: string) => (c.volumeMounts as Doc[]).find((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`))!;
    const dir = mountOf(env.RS_CHECKPOINT_DIR!);
    expect(dir.readOnly).toBeUndefined();
    expect(volume(dir.name).hostPath).toEqual({ path: '/var/lib/kubelet/checkpoints', type: 'DirectoryOrCreate' });
    const cert = mountOf(env.RS_KUBELET_CLIENT_CERT!);
    expect(mountOf(env.RS_KUBELET_CLIENT_KEY!)).toBe(cert);
    expect(cert.readOnly).toBe(true);
    expect(volume(cert.name).secret.secretName).toBe('reshifter-kubelet-client');
    expect(env.RS_KUBELET_CLIENT_CERT).toBe(`${cert.mountPath}/tls.crt`);
    expect(env.RS_KUBELET_CLIENT_KEY).toBe(`${cert.mountPath}/tls.key`);
    expect(volume(mountOf(env.RS_KUBELET_CA_CERT!).name).hostPath).toEqual({ path: '/var/lib/kubelet/pki/kubelet.crt', type: 'File' });
    // Root (the archives are root's, mode 0600) without capabilities or escalation, on a read-only root file system.
    expect(pod.securityContext).toMatchObject({ runAsUser: 0, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(pod.hostNetwork).toBeUndefined();
    expect(c.envFrom[0].secretRef.name).toBe(secret.metadata.name);
  });

  it('is ready while it serves, not while its checkpoints succeed, and its metrics are scraped per pod', () => {
    const [c] = podSpec(ds()).containers;
    const env = envOf(ds());
    // Not /healthz: one node whose checkpoints fail would stop the DaemonSet's rolling update there (the fix
    // included) and take its /metrics and API off their endpoints; /healthz and the metrics say it instead.
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/livez', port: 'http' });
    const port = c.ports.find((p: Doc) => p.name === 'http');
    expect(String(port.containerPort)).toBe(env.RS_HTTP_PORT);
    expect(ds().spec.template.metadata.annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': env.RS_HTTP_PORT, 'prometheus.io/path': '/metrics' });
    // The Prometheus Operator's way: manifests/monitoring's PodMonitor selects these pods (and not the scheduler's)
    // and scrapes the named port.
    const pm = build('monitoring').find((d) => d.kind === 'PodMonitor')!;
    const labels = ds().spec.template.metadata.labels;
    for (const [k, v] of Object.entries(pm.spec.selector.matchLabels)) expect(labels[k]).toBe(v);
    expect(pm.spec.selector.matchLabels['app.kubernetes.io/component']).toBe('checkpoint');
    expect(pm.spec.podMetricsEndpoints).toEqual([{ port: 'http', path: '/metrics', interval: '60s' }]);
  });
});

describe('systemd', () => {
  it('has every file', () => {
    for (const f of ['reshifter.service', 'reshifter.timer', 'reshifter.env.example']) expect(existsSync(join(DIR, 'systemd', f))).toBe(true);
  });

  it('a oneshot backup service, started by a timer, configured by the env file', () => {
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
});
