import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { CertPair, TestCerts } from './certs.js';
import { writeCheckpointArchive } from './checkpoint-archive.js';

/**
 * A stand-in for a node's kubelet, because no kubelet (nor CRI-O, nor CRIU) can run here: an HTTPS server on a free
 * loopback port that speaks the two endpoints of the kubelet API a checkpoint backup uses, answering as the real one
 * does (kubernetes pkg/kubelet/server/server.go and auth.go):
 *
 * - authentication: TLS asks for a client certificate without requiring it (the kubelet's RequestClientCert); a
 *   certificate signed by the CA authenticates its CN, else a bearer token from `tokens`; else 401 `Unauthorized`.
 * - authorization: `nodes/checkpoint` (verb create) for /checkpoint, `nodes/pods` or `nodes/proxy` (verb get) for
 *   /pods; refused: 403 `Forbidden (user=..., verb=..., resource=nodes, subresource(s)=[...])`.
 * - `GET /pods`: a v1 PodList of `pods` (metadata, spec.nodeName/containers, status.containerStatuses[].state).
 * - `POST /checkpoint/{ns}/{pod}/{container}[?timeout=N]`: 404 `pod does not exist` / `container <c> does not exist`;
 *   500 `checkpointing of ns/pod/c failed (<runtime error>)` when the runtime refuses (`runtime`) or the container is
 *   not running; else writes a checkpoint archive in CRI-O's layout (see checkpoint-archive.ts) into `checkpointDir`
 *   as `checkpoint-<pod>_<ns>-<container>-<RFC 3339 time>.tar` and answers `{"items":["<kubeletDir>/<file>"]}`.
 * - without the ContainerCheckpoint feature gate (`checkpointApi: false`): 404 `404 page not found`.
 */
export interface FakeContainer {
  name: string;
  /** Default true; false means waiting (e.g. CrashLoopBackOff). */
  running?: boolean;
  init?: boolean;
  /** Bytes of process memory in the archive (pages-1.img). */
  pagesBytes?: number;
}

export interface FakePod {
  namespace: string;
  name: string;
  uid?: string;
  containers: FakeContainer[];
}

export interface FakeKubeletOptions {
  certs: TestCerts;
  /** The serving certificate (default certs.server, for 127.0.0.1). */
  server?: CertPair;
  pods: FakePod[];
  /** Where archives are written: the node's /var/lib/kubelet/checkpoints, as this process would see a hostPath. */
  checkpointDir: string;
  nodeName?: string;
  /** Bearer tokens and their users. */
  tokens?: Record<string, string>;
  /** Users (certificate CN or token user) allowed only some subresources; others may do everything. */
  allowed?: Record<string, Array<'checkpoint' | 'pods'>>;
  /** How the runtime answers a checkpoint: CRI-O with CRIU (default), CRI-O without, containerd 1.7. */
  runtime?: 'crio' | 'crio-without-criu' | 'containerd-1.7';
  /** false: the ContainerCheckpoint feature gate is off. */
  checkpointApi?: boolean;
  /** Waits this long before answering a checkpoint (a big container takes time). */
  checkpointDelayMs?: number;
  /**
   * Replaces the answer to a request (hostile or broken kubelets): a reply, `'stall'` to never answer, or undefined to
   * keep the normal one.
   */
  override?: (req: { method: string; path: string }) => { status: number; body: string | Buffer; contentType?: string } | 'stall' | undefined;
  /** Told each archive's path once written, before the reply (a test copies it before the backup deletes it). */
  onArchive?: (path: string) => void | Promise<void>;
}

export interface FakeKubelet {
  url: string;
  /** The folder the kubelet names in its replies (on the node). */
  kubeletDir: string;
  /** Every request: method, path, user (or undefined) and status answered. */
  requests: Array<{ method: string; path: string; user?: string; status: number }>;
  /** Archives written, by file name. */
  archives: string[];
  options: FakeKubeletOptions;
  close(): Promise<void>;
}

const KUBELET_DIR = '/var/lib/kubelet/checkpoints';

/** Go's time.Now().Format(time.RFC3339) in UTC: `2024-02-29T18:28:17Z`. */
const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export async function startFakeKubelet(options: FakeKubeletOptions): Promise<FakeKubelet> {
  await mkdir(options.checkpointDir, { recursive: true, mode: 0o700 });
  const { certs } = options;
  const server = options.server ?? certs.server;
  const requests: FakeKubelet['requests'] = [];
  const archives: string[] = [];
  const uids = new Map(options.pods.map((p) => [p, p.uid ?? randomUUID()]));
  const nodeName = options.nodeName ?? 'node-1';

  const handle = async (req: IncomingMessage, res: ServerResponse, entry: FakeKubelet['requests'][number]): Promise<number> => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const method = req.method ?? 'GET';
    const text = (status: number, body: string | Buffer, contentType = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': contentType });
      res.end(body);
      return status;
    };
    const custom = options.override?.({ method, path: url.pathname + url.search });
    if (custom === 'stall') return new Promise<number>(() => {});
    if (custom) return text(custom.status, custom.body, custom.contentType);

    // Authentication: a verified client certificate, else a bearer token.
    const socket = req.socket as TLSSocket;
    let user: string | undefined;
    if (socket.authorized) user = (socket.getPeerCertificate().subject?.CN as string | undefined) ?? 'unknown';
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (user === undefined && bearer !== undefined) user = options.tokens?.[bearer];
    if (user === undefined) return text(401, 'Unauthorized');
    entry.user = user;

    const isCheckpoint = url.pathname.startsWith('/checkpoint/');
    const isPods = url.pathname === '/pods';
    const verb = method === 'POST' ? 'create' : 'get';
    const sub = isCheckpoint ? 'checkpoint' : isPods ? 'pods' : 'proxy';
    const allowed = options.allowed?.[user];
    if (allowed !== undefined && !(isCheckpoint ? allowed.includes('checkpoint') : isPods ? allowed.includes('pods') : false)) {
      const subs = isPods ? '[pods proxy]' : `[${sub}]`;
      return text(403, `Forbidden (user=${user}, verb=${verb}, resource=nodes, subresource(s)=${subs})\n`);
    }

    if (isPods && method === 'GET') return text(200, JSON.stringify(podList(options.pods, uids, nodeName)), 'application/json');
    if (!isCheckpoint || method !== 'POST' || options.checkpointApi === false) return text(404, '404 page not found\n');

    const parts = url.pathname.split('/').slice(2).map(decodeURIComponent);
    if (parts.length !== 3) return text(404, '404 page not found\n');
    const [ns, podName, containerName] = parts as [string, string, string];
    const pod = options.pods.find((p) => p.namespace === ns && p.name === podName);
    if (!pod) return text(404, 'pod does not exist');
    const container = pod.containers.find((c) => c.name === containerName);
    if (!container) return text(404, `container ${containerName} does not exist`);
    const timeouts = url.searchParams.getAll('timeout');
    if (timeouts.length > 0 && !/^-?\d+$/.test(timeouts.at(-1)!)) return text(404, 'cannot parse value of timeout parameter');
    if (options.checkpointDelayMs) await new Promise((r) => setTimeout(r, options.checkpointDelayMs));
    const failed = (err: string) => text(500, `checkpointing of ${ns}/${podName}/${containerName} failed (${err})`);
    if (options.runtime === 'crio-without-criu') return failed('rpc error: code = Unknown desc = checkpoint/restore support not available');
    if (options.runtime === 'containerd-1.7') return failed('rpc error: code = Unimplemented desc = method CheckpointContainer not implemented');
    if (container.running === false) return failed(`container ${containerName} not found`);
    const file = `checkpoint-${podName}_${ns}-${containerName}-${rfc3339(new Date())}.tar`;
    await writeCheckpointArchive(join(options.checkpointDir, file), {
      namespace: ns,
      pod: podName,
      container: containerName,
      podUid: uids.get(pod)!,
      ...(container.pagesBytes !== undefined && { pagesBytes: container.pagesBytes }),
    });
    archives.push(file);
    await options.onArchive?.(join(options.checkpointDir, file));
    // The kubelet formats this reply with Sprintf, not a JSON encoder.
    return text(200, `{"items":["${KUBELET_DIR}/${file}"]}`, 'application/json');
  };

  const https: Server = createServer(
    {
      cert: readFileSync(server.cert),
      key: readFileSync(server.key),
      ca: readFileSync(certs.ca),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const entry = { method: req.method ?? 'GET', path: req.url ?? '/', status: 0 } as FakeKubelet['requests'][number];
      requests.push(entry);
      handle(req, res, entry).then(
        (status) => {
          entry.status = status;
        },
        (err: unknown) => {
          entry.status = 500;
          if (!res.headersSent) res.writeHead(500).end(String(err));
        },
      );
    },
  );
  await new Promise<void>((resolve, reject) => {
    https.once('error', reject);
    https.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (https.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    kubeletDir: KUBELET_DIR,
    requests,
    archives,
    options,
    close: () =>
      new Promise<void>((resolve) => {
        https.closeAllConnections();
        https.close(() => resolve());
      }),
  };
}

/** The v1 PodList the kubelet's GET /pods encodes (the fields a client reads, in their real places). */
function podList(pods: FakePod[], uids: Map<FakePod, string>, nodeName: string) {
  const status = (c: FakeContainer) => ({
    name: c.name,
    ready: c.running !== false,
    restartCount: 0,
    image: `docker.io/library/${c.name}:latest`,
    state: c.running === false ? { waiting: { reason: 'CrashLoopBackOff' } } : { running: { startedAt: '2026-01-01T00:00:00Z' } },
  });
  return {
    kind: 'PodList',
    apiVersion: 'v1',
    metadata: {},
    items: pods.map((p) => ({
      metadata: { name: p.name, namespace: p.namespace, uid: uids.get(p), creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: {
        nodeName,
        containers: p.containers.filter((c) => !c.init).map((c) => ({ name: c.name, image: `${c.name}:latest` })),
        ...(p.containers.some((c) => c.init) && { initContainers: p.containers.filter((c) => c.init).map((c) => ({ name: c.name, image: `${c.name}:latest`, restartPolicy: 'Always' })) }),
      },
      status: {
        phase: 'Running',
        hostIP: '127.0.0.1',
        podIP: '10.244.0.10',
        containerStatuses: p.containers.filter((c) => !c.init).map(status),
        ...(p.containers.some((c) => c.init) && { initContainerStatuses: p.containers.filter((c) => c.init).map(status) }),
      },
    })),
  };
}
