import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HealthReport } from '../core/health.js';
import { OperationError } from '../core/errors.js';
import type { Logger } from '../log.js';
import { checksHostNames, hostAllowed } from './exposure.js';

export interface HttpServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  /** RS_HTTP_ADDRESS; default: every interface. */
  host?: string;
  /** RS_HTTP_ALLOWED_HOSTS: more names it answers to (exposure.ts checksHostNames says when names are checked). */
  allowedHosts?: readonly string[];
  log: Logger;
  health: () => HealthReport;
  metrics: () => Promise<{ contentType: string; body: string }>;
  /** More routes (the API, the UI), served after the server's own paths. */
  routes?: MoreRoutes;
}

export interface MoreRoutes {
  /** The paths (or path prefixes) they serve, as the start-up log line and a 404 list them: `/api/v1/`, `/`. */
  paths: readonly string[];
  /** Answers the request and resolves true, or resolves false for a 404. */
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

export interface RunningHttpServer {
  port: number;
  /** Stops accepting, closes open connections and resolves once the server is closed. */
  close(): Promise<void>;
}

const PATHS = ['/healthz', '/readyz', '/livez', '/metrics'];

/**
 * Connections open at once, and from one client address. With one cap only (64, as it was), any client that reached
 * the port held every connection by opening 64 and sending nothing: /livez and /healthz then failed (the kubelet
 * restarts the pod, mid-backup) and the API answered no one, without a token. Per address, one client (a pod, a
 * browser tab's page) cannot take them all; the kubelet's probes, Prometheus and the operator each have their own.
 * 64 a client still has: an ingress controller's pool of upstream connections all come from its one address.
 */
const MAX_CONNECTIONS = 512;
const MAX_PER_ADDRESS = 64;

/**
 * The HTTP side of `run` (node:http, no framework): `GET /healthz` (200, or 503 with the reason), `GET /readyz`
 * (200 while it serves: for readiness, which must not take the web UI and API off their Service when a backup
 * fails, the moment the operator needs them), `GET /livez` (200 while the process answers), `GET /metrics`
 * (Prometheus text), then the routes it is given (the API, the UI). Everything else is a JSON 404 or 405.
 * Bounded: small headers, short timeouts, a cap on connections in all and per client address, and request bodies are
 * never read. On loopback (or with RS_HTTP_ALLOWED_HOSTS), a request sent to a name it does not answer to is refused
 * first (421), whatever its path.
 */
export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const log = opts.log.child({ component: 'http' });
  const allowedHosts = opts.allowedHosts ?? [];
  const checkHost = checksHostNames({ address: opts.host, allowedHosts });
  // The timeouts are checked every second (Node's default, 30 s, let a connection that sends nothing stay for 35 s).
  const limits = { maxHeaderSize: 16 * 1024, requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000, connectionsCheckingInterval: 1_000 };
  const server = createServer(limits, (req, res) => {
    if (checkHost && !hostAllowed(req.headers.host, allowedHosts)) {
      refuseHost(req, res, opts.host ?? '*', log);
      return;
    }
    handle(req, res, opts).catch((err: unknown) => {
      log.error({ err: err instanceof Error ? err.message : String(err), path: req.url }, 'http request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => answerClientError(err, socket));
  server.maxConnections = MAX_CONNECTIONS;
  server.maxRequestsPerSocket = 100;
  limitPerAddress(server, MAX_PER_ADDRESS);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'is already in use' : err.code === 'EACCES' ? 'needs privileges' : err.message;
      const what = err.code === 'EADDRNOTAVAIL' ? `the address ${opts.host ?? ''} (RS_HTTP_ADDRESS) is not one of this machine's` : `the port ${why}`;
      reject(new OperationError(`cannot serve HTTP on ${opts.host ?? '*'}:${opts.port} (RS_HTTP_ADDRESS, RS_HTTP_PORT): ${what}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err: err.message }, 'http server error'));
  const port = (server.address() as AddressInfo).port;
  log.info({ address: opts.host ?? '*', port, paths: servedPaths(opts) }, 'http server listening');
  let closed: Promise<void> | undefined;
  return {
    port,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => log.info('http server stopped'));
      return closed;
    },
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: HttpServerOptions): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  if (!PATHS.includes(path)) {
    if (!(await opts.routes?.handle(req, res))) json(res, 404, { error: 'not found', paths: servedPaths(opts) });
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    res.setHeader('Connection', 'close');
    json(res, 405, { error: `method ${req.method ?? ''} not allowed` });
    return;
  }
  if (path === '/healthz') {
    const report = opts.health();
    json(res, report.healthy ? 200 : 503, report);
  } else if (path === '/readyz') {
    json(res, 200, { status: 'ready' });
  } else if (path === '/livez') {
    json(res, 200, { status: 'alive' });
  } else {
    const { contentType, body } = await opts.metrics();
    send(res, 200, contentType, body);
  }
}

/** What this server answers, with this configuration: its own paths and those of the routes it was given. */
function servedPaths(opts: HttpServerOptions): string[] {
  return [...PATHS, ...(opts.routes?.paths ?? [])];
}

/** 421: the request named a host this server does not answer to (a DNS-rebinding page, or a name to allow). */
function refuseHost(req: IncomingMessage, res: ServerResponse, address: string, log: Logger): void {
  const host = (req.headers.host ?? '').slice(0, 200);
  log.warn({ host, path: req.url, address }, 'request to an unknown host name refused');
  res.setHeader('Connection', 'close');
  json(res, 421, {
    error: `this server does not answer to the name in the request's Host header (${JSON.stringify(host)}): it answers to localhost, IP addresses and the names in RS_HTTP_ALLOWED_HOSTS; add the name there to reach it by that name`,
    code: 'misdirected_request',
  });
}

function json(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`);
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * A request node:http refuses before any handler sees it, answered as every other error is (JSON naming the cause)
 * rather than Node's bare status line: a request line and headers over 16 KiB (a very long query string: 431), or a
 * request that is not HTTP (400). A socket already written to, or gone, is only closed.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const answer = clientErrorAnswer(err.code ?? '');
  if (answer === undefined || !socket.writable || (socket as Duplex & { _httpMessage?: unknown })._httpMessage) {
    socket.destroy();
    return;
  }
  const [status, reason, code, error] = answer;
  const body = `${JSON.stringify({ error, code })}\n`;
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** Status, reason, code and message for a refused request's error code; undefined: only close (a reset, a timeout on an idle socket). */
function clientErrorAnswer(code: string): [number, string, string, string] | undefined {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return [431, 'Request Header Fields Too Large', 'headers_too_large', 'the request line and headers are larger than 16 KiB (a query string that long?): send less'];
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'Request Timeout', 'request_timeout', 'the request was not sent whole within 10 s'];
  if (code.startsWith('HPE_')) return [400, 'Bad Request', 'bad_request', `the request is not valid HTTP (${code})`];
  return undefined;
}

/** Closes a new connection at once when its address already holds `max` open ones. */
function limitPerAddress(server: Server, max: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket) => {
    const who = socket.remoteAddress ?? '';
    const n = (open.get(who) ?? 0) + 1;
    if (n > max) {
      socket.destroy();
      return;
    }
    open.set(who, n);
    socket.once('close', () => {
      const left = (open.get(who) ?? 1) - 1;
      if (left > 0) open.set(who, left);
      else open.delete(who);
    });
  });
}
