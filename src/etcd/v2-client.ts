import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import type { EtcdConfig } from '../config/types.js';
import { EtcdError, describeError } from '../core/errors.js';
import { budgetedWait } from '../core/wait-budget.js';
import { readTlsFiles, usesTls } from './client.js';
import { tlsReason } from './errors.js';
import { credentialVariables } from './tls-check.js';
import { currentInterrupt, interruptedError } from './interrupt.js';

/** A node of etcd's v2 keys API. */
export interface V2Node {
  key: string;
  dir?: boolean;
  value?: string;
  ttl?: number;
  nodes?: V2Node[];
  createdIndex?: number;
  modifiedIndex?: number;
}

interface V2Response {
  status: number;
  body: Buffer;
  index?: number;
}

const MAX_BODY = 1024 * 1024 * 1024;

/**
 * node:http, required rather than imported: an ES import of it makes Node read every export, which loads its lazy
 * fetch and WebSocket (undici): ~70 ms of CPU at the start of every command that loads this client (bench/results/HISTORY.md).
 */
const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
type IncomingMessage = import('node:http').IncomingMessage;
type HttpAgent = import('node:http').Agent;

/** Percent-encodes key bytes for a URL path, keeping `/` (v2 keys are paths; names may hold spaces, `:` or `%`). */
export function encodeKeyPath(key: Buffer | string): string {
  const bytes = typeof key === 'string' ? Buffer.from(key) : key;
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~/]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Form-encodes a value's bytes exactly (binary-safe, unlike URLSearchParams on strings). */
function formBytes(value: Buffer): string {
  let out = '';
  for (const b of value) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** How long a read waits for an endpoint's answer before the same read goes to the next endpoint too. */
const HEDGE_MS = 1_000;

/**
 * A small client of etcd's v2 HTTP keys API (Kubernetes <= 1.5 clusters; etcd 3.4 with `--enable-v2`). Speaks
 * plain HTTP or HTTPS with the configured CA and client certificate, basic auth with the configured user, and tries
 * the endpoints in order (reads: see hedgedGet).
 */
export class V2Client {
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly tls: boolean;
  private readonly authHeader?: string;
  /** The endpoint that answered the last read: the next read goes there first. */
  private answered?: string;

  constructor(
    private readonly cfg: EtcdConfig,
    opts: { withoutClientCert?: boolean } = {},
  ) {
    this.tls = usesTls(cfg);
    if (this.tls) {
      const files = readTlsFiles(cfg);
      this.agent = new HttpsAgent({
        keepAlive: true,
        maxSockets: 8,
        ...(files.ca && { ca: files.ca }),
        ...(!opts.withoutClientCert && files.cert && { cert: files.cert }),
        ...(!opts.withoutClientCert && files.key && { key: files.key }),
      });
    } else {
      this.agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    }
    if (cfg.username !== undefined && cfg.password !== undefined) {
      this.authHeader = `Basic ${Buffer.from(`${cfg.username}:${cfg.password}`).toString('base64')}`;
    }
  }

  close(): void {
    this.agent.destroy();
  }

  /** `GET /version`: the server's and the cluster's etcd version. */
  async version(): Promise<{ etcdserver: string; etcdcluster: string }> {
    const res = await this.request('GET', '/version');
    if (res.status !== 200) throw new EtcdError(`etcd answered /version with HTTP ${res.status}`);
    return this.json(res, '/version') as { etcdserver: string; etcdcluster: string };
  }

  /** True when the endpoint serves the v2 keys API. */
  async served(): Promise<boolean> {
    const res = await this.request('GET', '/v2/keys/');
    if (res.status === 401 || res.status === 403) return true;
    return res.status === 200 && res.body.length > 0 && res.body[0] === 0x7b;
  }

  /** `GET /v2/auth/enable`: whether v2 auth is on (undefined when the server does not say). */
  async authEnabled(): Promise<boolean | undefined> {
    const res = await this.request('GET', '/v2/auth/enable');
    if (res.status !== 200) return undefined;
    const v = this.json(res, '/v2/auth/enable') as { enabled?: boolean };
    return typeof v.enabled === 'boolean' ? v.enabled : undefined;
  }

  /** A node (a directory lists its direct children only); undefined when the key does not exist. */
  async get(key: Buffer | string): Promise<{ node: V2Node; index: number } | undefined> {
    const path = `/v2/keys${encodeKeyPath(key)}?sorted=true`;
    const res = await this.request('GET', path);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.httpError(res, `reading ${path}`);
    const body = this.json(res, path) as { node: V2Node };
    return { node: body.node, index: res.index ?? 0 };
  }

  /**
   * Sets a key, with a TTL when given. With `create`, only when absent (`prevExist=false`): resolves false when the
   * key existed.
   */
  async put(key: Buffer, value: Buffer, opts: { ttl?: number; create?: boolean } = {}): Promise<boolean> {
    const form = [`value=${formBytes(value)}`];
    if (opts.ttl !== undefined) form.push(`ttl=${opts.ttl}`);
    if (opts.create) form.push('prevExist=false');
    const path = `/v2/keys${encodeKeyPath(key)}`;
    const res = await this.request('PUT', path, Buffer.from(form.join('&')));
    if (res.status === 412 && opts.create) return false;
    if (res.status !== 200 && res.status !== 201) throw this.httpError(res, `writing ${path}`);
    return true;
  }

  /**
   * Every key (not directory) under `dir`, depth first in key order, one directory listing per request so no single
   * response holds the whole tree. Also returns the etcd index of the first listing.
   */
  async *walk(dir: string): AsyncGenerator<{ node: V2Node; index: number }> {
    const stack: Array<{ dir: string } | { leaf: V2Node; index: number }> = [{ dir }];
    while (stack.length > 0) {
      const item = stack.pop()!;
      if ('leaf' in item) {
        yield { node: item.leaf, index: item.index };
        continue;
      }
      const got = await this.get(item.dir);
      if (!got) continue;
      if (!got.node.dir) {
        yield got;
        continue;
      }
      const children = got.node.nodes ?? [];
      // Pushed in reverse, so the smallest key comes off the stack first.
      for (let i = children.length - 1; i >= 0; i--) {
        const child = children[i]!;
        stack.push(child.dir ? { dir: child.key } : { leaf: child, index: got.index });
      }
    }
  }

  private json(res: V2Response, what: string): unknown {
    try {
      return JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new EtcdError(`etcd's answer to ${what} is not JSON (is this an etcd endpoint?)`);
    }
  }

  private httpError(res: V2Response, what: string): EtcdError {
    let message = res.body.toString('utf8').slice(0, 300);
    try {
      const e = JSON.parse(message) as { message?: string; cause?: string };
      if (e.message) message = `${e.message}${e.cause ? ` (${e.cause})` : ''}`;
    } catch {
      /* keep the text */
    }
    const why = res.status === 401 ? `etcd refused the credentials (check ${credentialVariables(this.cfg)})` : `HTTP ${res.status}: ${message}`;
    return new EtcdError(`${what} failed at ${this.cfg.endpoints.join(',')}: ${why}`);
  }

  private async request(method: string, path: string, body?: Buffer): Promise<V2Response> {
    if (method === 'GET' && this.cfg.endpoints.length > 1) return this.hedgedGet(path);
    const interrupt = currentInterrupt();
    let lastError: unknown;
    for (const endpoint of this.cfg.endpoints) {
      try {
        if (interrupt?.aborted) throw interruptedError(interrupt);
        return await this.requestOnce(endpoint, method, path, body, interrupt);
      } catch (err) {
        if (interrupt?.aborted) throw interruptedError(interrupt);
        lastError = err;
      }
    }
    throw new EtcdError(`${method} ${path} failed at ${this.cfg.endpoints.join(',')}: ${describeTransport(lastError, this.cfg)}`, { cause: lastError });
  }

  /**
   * A read with several endpoints: the one that answered last first (then the others in order), and when it has not
   * answered within HEDGE_MS, the same read of the next one too, the first answer taken and the others abandoned. A
   * frozen member takes the connection and never answers: tried in turn, each read met it for RS_ETCD_TIMEOUT, in
   * silence (the API version's probe, two reads, held every backup 60 s with the first endpoint frozen).
   */
  private hedgedGet(path: string): Promise<V2Response> {
    const interrupt = currentInterrupt();
    const order = [...new Set([this.answered ?? this.cfg.endpoints[0]!, ...this.cfg.endpoints])];
    const aborts: AbortController[] = [];
    let timer: NodeJS.Timeout | undefined;
    return new Promise<V2Response>((resolve, reject) => {
      let done = false;
      let failed = 0;
      let lastError: unknown;
      const finish = () => {
        done = true;
        clearTimeout(timer);
        for (const a of aborts) a.abort();
      };
      const launch = () => {
        if (done || aborts.length >= order.length) return;
        const endpoint = order[aborts.length]!;
        const abort = new AbortController();
        aborts.push(abort);
        const signal = interrupt ? AbortSignal.any([interrupt, abort.signal]) : abort.signal;
        clearTimeout(timer);
        timer = setTimeout(launch, HEDGE_MS);
        this.requestOnce(endpoint, 'GET', path, undefined, signal).then(
          (res) => {
            if (done) return;
            this.answered = endpoint;
            finish();
            resolve(res);
          },
          (err: unknown) => {
            if (done) return;
            lastError = err;
            if (++failed < order.length && !interrupt?.aborted) return launch();
            finish();
            reject(interrupt?.aborted ? interruptedError(interrupt) : new EtcdError(`GET ${path} failed at ${this.cfg.endpoints.join(',')}: ${describeTransport(lastError, this.cfg)}`, { cause: lastError }));
          },
        );
      };
      launch();
    });
  }

  private requestOnce(endpoint: string, method: string, path: string, body: Buffer | undefined, interrupt: AbortSignal | undefined): Promise<V2Response> {
    // An API read's wait budget (core/wait-budget.ts) may leave less than RS_ETCD_TIMEOUT.
    const timeoutMs = Math.max(1, budgetedWait(this.cfg.timeoutMs).ms);
    return new Promise((resolve, reject) => {
      const url = new URL(path, endpoint);
      const send = this.tls ? httpsRequest : http.request;
      const req = send(
        url,
        {
          method,
          agent: this.agent,
          timeout: timeoutMs,
          // A frozen etcd accepts the connection and never answers: the operation's stop must not wait for the timeout.
          ...(interrupt && { signal: interrupt }),
          headers: {
            ...(this.authHeader && { authorization: this.authHeader }),
            ...(body && { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) }),
          },
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_BODY) req.destroy(new Error(`answer larger than ${MAX_BODY} bytes`));
            else chunks.push(c);
          });
          res.on('error', reject);
          res.on('end', () => {
            const index = Number(res.headers['x-etcd-index']);
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), ...(Number.isFinite(index) && { index }) });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      // The socket's timeout above is one of silence: an answer that trickles in (a byte now and then, from a broken
      // proxy or a hostile endpoint) never trips it, and the call would never end. The whole answer has the same time.
      const deadline = setTimeout(() => req.destroy(new Error(`no complete answer within ${timeoutMs} ms${timeoutMs < this.cfg.timeoutMs ? ' (the wait budget of an API read)' : ' (RS_ETCD_TIMEOUT)'}`)), timeoutMs);
      req.once('close', () => clearTimeout(deadline));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function describeTransport(err: unknown, cfg: EtcdConfig): string {
  const text = describeError(err);
  if (/certificate|self.signed|unable to verify|handshake|alert/i.test(text)) return tlsReason(text.toLowerCase(), cfg) ?? `TLS failed (${text})`;
  if (/ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|socket hang up|no answer/i.test(text)) return `etcd is unreachable or went away (${text})`;
  return text;
}
