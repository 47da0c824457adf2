import { connect as tcpConnect, isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { printable } from '../core/printable.js';

/** The PEM files of RS_ETCD_CA_CERT, RS_ETCD_CLIENT_CERT and RS_ETCD_CLIENT_KEY, as read for the client. */
export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** How long to wait after our handshake for the server to refuse our certificate. */
const ALERT_WAIT_MS = 1000;

const NETWORK_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** What a probe found: the endpoint serves plain http, or our own handshake failed with this error text. */
export type TlsProbeResult = { kind: 'plain-http' } | { kind: 'handshake-error'; text: string };

/**
 * grpc-js reports some TLS failures only as a reset connection, depending on timing: a plain-http etcd drops a TLS
 * hello, and a TLS 1.3 etcd that refuses the client certificate may reset before its alert is read. One plain HTTP
 * request and one TLS handshake of our own tell these apart. Resolves undefined when neither says more (the endpoint
 * really did go away). Sends no credentials beyond the client certificate the client itself would present.
 */
export async function probeTls(endpoint: string, files: TlsFiles, timeoutMs = 3000): Promise<TlsProbeResult | undefined> {
  const at = hostAndPort(endpoint);
  if (at === undefined) return undefined;
  if ((await plainHttpReply(at.host, at.port, timeoutMs)) !== undefined) return { kind: 'plain-http' };
  const options = { ...(files.ca && { ca: files.ca }), ...(files.cert && { cert: files.cert }), ...(files.key && { key: files.key }) };
  const text = (await handshake(at.host, at.port, options, timeoutMs)).error;
  return text === undefined ? undefined : { kind: 'handshake-error', text };
}

/** What a probe of an http:// endpoint found: it speaks TLS, and whether it refused us for want of a client certificate. */
export interface SpeaksTls {
  clientCertificateRequired: boolean;
}

const CLIENT_CERT_REFUSED = /alert (certificate required|bad certificate|handshake failure)/i;

/**
 * Whether an http:// endpoint speaks TLS. A TLS etcd closes a plaintext connection without a word, which grpc-js
 * reports only as "Failed to connect" (and would retry until RS_ETCD_TIMEOUT); one TLS handshake of our own tells.
 * It checks no certificate (it asks only whether TLS is spoken) and sends no client certificate, so an alert after it
 * means the endpoint wants one. Resolves undefined when the endpoint does not speak TLS or cannot be reached.
 */
export async function probeSpeaksTls(endpoint: string, timeoutMs = 3000): Promise<SpeaksTls | undefined> {
  const at = hostAndPort(endpoint);
  if (at === undefined) return undefined;
  const met = await handshake(at.host, at.port, { rejectUnauthorized: false }, timeoutMs);
  // Before the handshake completed, only a TLS alert says the other side speaks TLS (a plain server's reply is "wrong
  // version number" or the like).
  if (!met.completed && !/alert/i.test(met.error ?? '')) return undefined;
  return { clientCertificateRequired: CLIENT_CERT_REFUSED.test(met.error ?? '') };
}

/** The host and port of an endpoint URL (etcd's 2379 when none is given). */
function hostAndPort(endpoint: string): { host: string; port: number } | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return undefined;
  }
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 2379) };
}

/**
 * The status line an http:// endpoint answers a plain HTTP/1.1 request with (`HTTP/1.1 404 Not Found`), undefined
 * when it answers otherwise or not at all. grpc-js meets an HTTP server that is not gRPC (etcd's metrics port) with
 * no more than "Protocol error", and retries it as if the endpoint were down.
 */
export async function probePlainHttp(endpoint: string, timeoutMs = 3000): Promise<string | undefined> {
  const at = hostAndPort(endpoint);
  if (at === undefined) return undefined;
  const reply = await plainHttpReply(at.host, at.port, timeoutMs, true);
  // etcd's own client port answers /version too: that is etcd, whatever grpc-js met. The status line is the other
  // server's text: printed as keys are (no raw control characters in a message).
  return reply === undefined || reply.includes('"etcdserver"') ? undefined : printable(reply.split('\r\n')[0]!.slice(0, 80));
}

/**
 * The endpoint's answer to a plain HTTP request, when it answers with HTTP (etcd serves /version on its client port):
 * its head, or with `body` its first 512 bytes. A TLS server answers with an alert, a reset, or Go's "Client sent an
 * HTTP request to an HTTPS server": undefined.
 */
function plainHttpReply(host: string, port: number, timeoutMs: number, body = false): Promise<string | undefined> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = tcpConnect({ host, port });
    const done = (answer: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const judge = () => done(/^HTTP\/1\.[01] \d{3}/.test(reply) && !/HTTPS server/i.test(reply) ? reply : undefined);
    const timer = setTimeout(judge, timeoutMs);
    socket.setEncoding('latin1');
    socket.once('connect', () => socket.write(`GET /version HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (d: string) => {
      reply += d;
      if (reply.length >= 512 || (!body && reply.includes('\r\n\r\n'))) judge();
    });
    socket.once('end', judge);
    socket.once('error', () => done(undefined));
  });
}

/** What one TLS handshake of ours met: whether it completed, and the error that ended it, if any. */
interface Handshake {
  completed: boolean;
  error?: string;
}

/**
 * A TLS handshake with `options`, including an alert that arrives just after it (TLS 1.3 servers check the client
 * certificate after the client considers the handshake done). `error` is undefined when nothing was refused: the
 * server answered the HTTP/2 preface, or said nothing within the time; and for a reset or refused connection, which
 * says nothing grpc-js did not already say.
 */
function handshake(host: string, port: number, options: ConnectionOptions, timeoutMs: number): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host,
      port,
      // An IP address is not a valid SNI name (RFC 6066); certificate checks still apply to it.
      ...(isIP(host) === 0 && { servername: host }),
      ALPNProtocols: ['h2'],
      ...options,
    });
    let completed = false;
    const done = (error: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ completed, ...(error !== undefined && { error }) });
    };
    let timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once('secureConnect', () => {
      completed = true;
      // HTTP/2's client preface makes the server read our Finished (and with it check our certificate) and answer;
      // a refusal comes as an alert within a round trip or two, an acceptance as the server's SETTINGS.
      socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      socket.once('data', () => done(undefined));
      clearTimeout(timer);
      timer = setTimeout(() => done(undefined), Math.min(timeoutMs, ALERT_WAIT_MS));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => done(NETWORK_ERRORS.has(err.code ?? '') ? undefined : err.message));
    socket.once('close', () => done(undefined));
  });
}
