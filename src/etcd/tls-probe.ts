import { connect as tcpConnect, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

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
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return undefined;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 2379);
  if (await servesPlainHttp(host, port, timeoutMs)) return { kind: 'plain-http' };
  const text = await handshakeError(host, port, files, timeoutMs);
  return text === undefined ? undefined : { kind: 'handshake-error', text };
}

/**
 * True when the endpoint answers a plain HTTP request with HTTP (etcd serves /version on its client port). A TLS
 * server answers with an alert, a reset, or Go's "Client sent an HTTP request to an HTTPS server".
 */
function servesPlainHttp(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = tcpConnect({ host, port });
    const done = (answer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const judge = () => done(/^HTTP\/1\.[01] \d{3}/.test(reply) && !/HTTPS server/i.test(reply));
    const timer = setTimeout(judge, timeoutMs);
    socket.setEncoding('latin1');
    socket.once('connect', () => socket.write(`GET /version HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (d: string) => {
      reply += d;
      if (reply.length >= 512 || reply.includes('\r\n\r\n')) judge();
    });
    socket.once('end', judge);
    socket.once('error', () => done(false));
  });
}

/**
 * The error of a TLS handshake with the client's own files, including an alert that arrives just after it (TLS 1.3
 * servers check the client certificate after the client considers the handshake done). Undefined when the handshake
 * succeeded and nothing was refused within the time.
 */
function handshakeError(host: string, port: number, files: TlsFiles, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host,
      port,
      // An IP address is not a valid SNI name (RFC 6066); certificate checks still apply to it.
      ...(isIP(host) === 0 && { servername: host }),
      ALPNProtocols: ['h2'],
      ...(files.ca && { ca: files.ca }),
      ...(files.cert && { cert: files.cert }),
      ...(files.key && { key: files.key }),
    });
    const done = (text: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text);
    };
    let timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once('secureConnect', () => {
      // HTTP/2's client preface makes the server read our Finished (and with it check our certificate) and answer;
      // a refusal comes as an alert within a round trip or two.
      socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      socket.resume();
      clearTimeout(timer);
      timer = setTimeout(() => done(undefined), Math.min(timeoutMs, ALERT_WAIT_MS));
    });
    // A reset or refusal of our own connection says nothing grpc-js did not already say.
    socket.once('error', (err: NodeJS.ErrnoException) => done(NETWORK_ERRORS.has(err.code ?? '') ? undefined : err.message));
    socket.once('close', () => done(undefined));
  });
}
