import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { AbortedError, ConfigError, describeError } from '../core/errors.js';
import { parseCheckpointReply } from './checkpoint-reply.js';
import { KubeletError, httpFailure, transportFailure, type KubeletCall } from './errors.js';
import { parsePodList } from './pod-list.js';
import type { CheckpointReply, KubeletConfig, KubeletPod } from './types.js';

/** A node's PodList is a few MB at most; a reply to a checkpoint is one path; an error is a line of text. */
const MAX_PODS_BODY = 64 * 1024 * 1024;
const MAX_SMALL_BODY = 64 * 1024;
/** A checkpoint's deadline is the runtime's timeout plus this, so the kubelet's own answer (even a timeout) arrives. */
const CHECKPOINT_MARGIN_MS = 30_000;

interface Reply {
  status: number;
  body: Buffer;
}

/**
 * A client of a node's kubelet API (port 10250): `GET /pods` and `POST /checkpoint/{ns}/{pod}/{container}`. TLS
 * with the configured CA, a client certificate and/or a bearer token read from its file at each request (projected
 * service account tokens rotate). Every request has a deadline; replies are size-limited and validated; every failure
 * becomes one KubeletError, converted here.
 */
export class KubeletClient {
  private readonly agent: Agent;
  private readonly url: URL;

  constructor(private readonly cfg: KubeletConfig) {
    try {
      this.url = new URL(cfg.url);
    } catch {
      throw new ConfigError([`RS_KUBELET_URL was invalid: ${JSON.stringify(cfg.url)} is not a URL`]);
    }
    if (this.url.protocol !== 'https:') throw new ConfigError([`RS_KUBELET_URL was invalid: ${JSON.stringify(cfg.url)} must be https (the kubelet's authenticated port)`]);
    const ca = readPem(cfg.caCertFile, 'RS_KUBELET_CA_CERT');
    const cert = readPem(cfg.clientCertFile, 'RS_KUBELET_CLIENT_CERT');
    const key = readPem(cfg.clientKeyFile, 'RS_KUBELET_CLIENT_KEY');
    if (cert && key) checkClientCert(cert, key, cfg);
    const serverName = cfg.serverName;
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 4,
      ...(ca && { ca }),
      ...(cert && { cert }),
      ...(key && { key }),
      // The kubelet's certificate may name the node rather than the IP we dial (RS_KUBELET_SERVER_NAME).
      ...(serverName !== undefined && {
        servername: serverName,
        checkServerIdentity: (_host: string, peer: PeerCertificate) => checkServerIdentity(serverName, peer),
      }),
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /** The pods bound to this node (`GET /pods`). */
  async listPods(signal?: AbortSignal): Promise<KubeletPod[]> {
    const call: KubeletCall = { kind: 'pods' };
    const reply = await this.send('GET', '/pods', call, this.cfg.timeoutMs, MAX_PODS_BODY, signal);
    try {
      return parsePodList(reply.body);
    } catch (err) {
      throw new KubeletError(`listing the pods failed at ${this.cfg.url}: the kubelet's pod list is malformed: ${describeError(err)}`, 'bad-reply', reply.status);
    }
  }

  /**
   * Asks the kubelet to checkpoint one container (`POST /checkpoint/{ns}/{pod}/{container}?timeout=N`), which leaves
   * the archive on the node and answers its path: the archive's checked file name comes back.
   */
  async checkpoint(namespace: string, pod: string, container: string, timeoutSeconds: number, signal?: AbortSignal): Promise<CheckpointReply> {
    if (!Number.isSafeInteger(timeoutSeconds) || timeoutSeconds < 1) throw new RangeError(`checkpoint timeout ${timeoutSeconds} is not a whole number of seconds`);
    const call: KubeletCall = { kind: 'checkpoint', namespace, pod, container, timeoutSeconds };
    const path = `/checkpoint/${[namespace, pod, container].map(encodeURIComponent).join('/')}?timeout=${timeoutSeconds}`;
    const reply = await this.send('POST', path, call, timeoutSeconds * 1000 + CHECKPOINT_MARGIN_MS, MAX_SMALL_BODY, signal);
    try {
      return parseCheckpointReply(reply.body, { namespace, pod, container });
    } catch (err) {
      throw new KubeletError(`checkpoint of ${namespace}/${pod}/${container} failed at ${this.cfg.url}: the kubelet's answer is not usable: ${describeError(err)}`, 'bad-reply', reply.status);
    }
  }

  /** One request with a deadline; a 2xx reply, or the KubeletError that explains the status or the failure. */
  private async send(method: string, path: string, call: KubeletCall, deadlineMs: number, maxBody: number, signal?: AbortSignal): Promise<Reply> {
    const token = await this.token();
    let reply: Reply;
    try {
      reply = await this.exchange(method, path, token, deadlineMs, maxBody, signal);
    } catch (err) {
      if (signal?.aborted) throw new AbortedError(`${call.kind === 'pods' ? 'listing the pods' : 'the checkpoint'} was interrupted`, { cause: err });
      throw transportFailure(err, call, this.cfg, deadlineMs);
    }
    if (reply.status < 200 || reply.status > 299) throw httpFailure(reply.status, reply.body, call, this.cfg);
    return reply;
  }

  private async token(): Promise<string | undefined> {
    if (this.cfg.tokenFile === undefined) return undefined;
    let text: string;
    try {
      text = await readFile(this.cfg.tokenFile, 'utf8');
    } catch (err) {
      throw new KubeletError(`RS_KUBELET_TOKEN_FILE (${this.cfg.tokenFile}) cannot be read: ${describeError(err)}`, 'unauthorized');
    }
    const token = text.trim();
    if (token === '' || /[\s\u0000-\u001f]/.test(token)) throw new KubeletError(`RS_KUBELET_TOKEN_FILE (${this.cfg.tokenFile}) holds no token`, 'unauthorized');
    return token;
  }

  private exchange(method: string, path: string, token: string | undefined, deadlineMs: number, maxBody: number, signal?: AbortSignal): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = request(new URL(path, this.url), {
        method,
        agent: this.agent,
        headers: { accept: 'application/json', ...(token !== undefined && { authorization: `Bearer ${token}` }) },
        ...(signal && { signal }),
      });
      // A deadline for the whole exchange, not only for idle sockets: a kubelet that trickles bytes is cut off too.
      const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${deadlineMs} ms`), { code: 'RS_DEADLINE' })), deadlineMs);
      const finish = (err: unknown, reply?: Reply) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(reply!);
      };
      req.once('error', (err) => finish(err));
      req.once('response', (res) => {
        const parts: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBody) {
            const status = res.statusCode ?? 0;
            req.destroy();
            // An oversized success is a bad reply; an oversized error keeps what fits for the message.
            if (status >= 200 && status <= 299) finish(new KubeletError(`the kubelet's answer to ${method} ${path.split('?')[0]} is larger than ${maxBody} bytes`, 'bad-reply', status));
            else finish(null, { status, body: Buffer.concat(parts) });
            return;
          }
          parts.push(chunk);
        });
        res.once('end', () => finish(null, { status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
        res.once('error', (err) => finish(err));
        res.once('aborted', () => finish(Object.assign(new Error('the kubelet closed the connection mid-answer'), { code: 'ECONNRESET' })));
      });
      req.end();
    });
  }
}

function readPem(path: string | undefined, variable: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError([`${variable} was invalid: ${JSON.stringify(path)} cannot be read (${describeError(err)})`]);
  }
}

/**
 * A client certificate that expired or does not match its key would only get a bare 401 from the kubelet (it asks for
 * certificates without requiring them): said here, naming the files.
 */
function checkClientCert(certPem: Buffer, keyPem: Buffer, cfg: KubeletConfig, now = new Date()): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new ConfigError([`RS_KUBELET_CLIENT_CERT was invalid: ${JSON.stringify(cfg.clientCertFile)} is not a PEM certificate`]);
  }
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    throw new ConfigError([`RS_KUBELET_CLIENT_KEY was invalid: ${JSON.stringify(cfg.clientKeyFile)} is not a PEM private key (an encrypted key is not supported)`]);
  }
  if (!matches) throw new KubeletError(`RS_KUBELET_CLIENT_KEY is not the key of RS_KUBELET_CLIENT_CERT (${cfg.clientKeyFile} and ${cfg.clientCertFile} do not belong together)`, 'unauthorized');
  if (new Date(cert.validTo) < now) {
    throw new KubeletError(`the client certificate RS_KUBELET_CLIENT_CERT (${cfg.clientCertFile}) expired on ${new Date(cert.validTo).toISOString()}; the kubelet will refuse it`, 'unauthorized');
  }
}
