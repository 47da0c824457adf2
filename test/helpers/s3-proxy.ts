import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** One S3 request as the proxy saw it. */
export interface SeenRequest {
  op: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Status sent back (the server's, or an injected one); 0 when the connection was dropped. */
  status: number;
}

/**
 * What to do with a request instead of passing it on: drop the connection, answer with an S3 error, or pass it on and
 * drop the connection once the server has answered (the request took effect; its reply is lost). An S3 error may carry
 * response headers and more elements of its XML body (a wrong region: x-amz-bucket-region, <Region>).
 */
export type Fault = 'drop' | 'lose-reply' | { status: number; code: string; headers?: Record<string, string>; elements?: Record<string, string> };

/**
 * A loopback HTTP proxy in front of the test S3 server: records every request (operation, headers) so tests can
 * see what was sent (server-side encryption headers, multipart aborts, retries), and injects faults.
 */
export interface S3Proxy {
  endpoint: string;
  requests: SeenRequest[];
  /** Decides per request whether to inject a fault; undefined passes it on. */
  fault?: ((r: { op: string; method: string; url: string; attempt: number; headers: IncomingHttpHeaders }) => Fault | undefined) | undefined;
  /** Request body bytes passed on to the server so far. */
  readonly bytesUp: number;
  /**
   * Called as each chunk of a response body passes, with the body bytes relayed so far for that request. `hold`: relay
   * nothing more of this response (the client sees a stalled body, whatever the sockets had buffered already).
   */
  onResponseBytes?: ((r: SeenRequest, relayed: number) => 'hold' | void) | undefined;
  /**
   * Rewrites the XML of each successful ListObjectsV2 reply before it is relayed (a hostile or broken endpoint's
   * listing: keys outside the prefix asked for, keys that climb out of it); `prefix` is the one asked for.
   */
  rewriteListing?: ((xml: string, prefix: string) => string) | undefined;
  /**
   * Replaces the body of each successful GetObject reply (its key without the bucket): other bytes, or fewer than the
   * Content-Length sent, `contentLength` (after which the connection is dropped). undefined relays it as it is.
   */
  rewriteObject?: ((key: string, body: Buffer) => { body: Buffer; contentLength?: number } | undefined) | undefined;
  /** The headers a request is sent upstream with, when it returns some (a proxy that drops `Range`, say). */
  rewriteRequest?: ((r: { op: string; url: string; headers: IncomingHttpHeaders }) => IncomingHttpHeaders | undefined) | undefined;
  ops(name: string): SeenRequest[];
  /** The most requests of operation `name` the proxy has held open at once (sent on, not yet answered in full). */
  peakInFlight(name: string): number;
  close(): Promise<void>;
}

/** The S3 operation of a request, from its method and query. */
export function s3Operation(method: string, url: string): string {
  const q = new URL(url, 'http://x').searchParams;
  const path = new URL(url, 'http://x').pathname.split('/').filter(Boolean);
  const onObject = path.length > 1;
  if (method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'PUT' && q.has('uploadId')) return 'UploadPart';
  if (method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && q.has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'PUT' && onObject) return 'PutObject';
  if (method === 'GET' && !onObject) return 'ListObjects';
  if (method === 'GET') return 'GetObject';
  if (method === 'DELETE' && onObject) return 'DeleteObject';
  if (method === 'HEAD' && !onObject) return 'HeadBucket';
  if (method === 'HEAD') return 'HeadObject';
  return `${method} ${url}`;
}

/** Relays `upRes` (a GetObject's reply) as `rewrite` makes it: its Content-Length, then its bytes (maybe fewer). */
function relayRewritten(rewrite: NonNullable<S3Proxy['rewriteObject']>, url: string, upRes: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  upRes.on('data', (c: Buffer) => chunks.push(c));
  upRes.on('end', () => {
    const key = decodeURIComponent(new URL(url, 'http://x').pathname.split('/').slice(2).join('/'));
    const original = Buffer.concat(chunks);
    const out = rewrite(key, original) ?? { body: original };
    const length = out.contentLength ?? out.body.length;
    res.writeHead(upRes.statusCode ?? 200, { ...upRes.headers, 'content-length': String(length) });
    if (length > out.body.length) res.write(out.body, () => res.socket?.destroy());
    else res.end(out.body);
  });
}

export async function startS3Proxy(targetEndpoint: string): Promise<S3Proxy> {
  const target = new URL(targetEndpoint);
  const requests: SeenRequest[] = [];
  const attempts = new Map<string, number>();
  let bytesUp = 0;
  const inFlight = new Map<string, number>();
  const peaks = new Map<string, number>();
  const proxy: Partial<S3Proxy> & Pick<S3Proxy, 'fault' | 'onResponseBytes'> = {};
  const server: Server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const op = s3Operation(method, url);
    const key = `${method} ${url}`;
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    const seen: SeenRequest = { op, method, url, headers: req.headers, status: 0 };
    requests.push(seen);
    const open = (inFlight.get(op) ?? 0) + 1;
    inFlight.set(op, open);
    peaks.set(op, Math.max(peaks.get(op) ?? 0, open));
    res.once('close', () => inFlight.set(op, (inFlight.get(op) ?? 1) - 1));
    const fault = proxy.fault?.({ op, method, url, attempt, headers: req.headers });
    if (fault === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault !== undefined && fault !== 'lose-reply') {
      req.resume();
      req.on('end', () => {
        seen.status = fault.status;
        res.writeHead(fault.status, { 'content-type': 'application/xml', ...fault.headers });
        const elements = Object.entries(fault.elements ?? {}).map(([name, text]) => `<${name}>${text}</${name}>`).join('');
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected by the test proxy</Message>${elements}</Error>`);
      });
      return;
    }
    const headers = { ...(proxy.rewriteRequest?.({ op, url, headers: req.headers }) ?? req.headers) };
    delete headers.expect;
    const up = request(
      { host: target.hostname, port: target.port, method, path: url, headers },
      (upRes) => {
        if (fault === 'lose-reply') {
          upRes.resume();
          upRes.on('end', () => req.socket.destroy());
          return;
        }
        seen.status = upRes.statusCode ?? 0;
        const rewrite = proxy.rewriteListing;
        if (rewrite !== undefined && op === 'ListObjects' && upRes.statusCode === 200) {
          const chunks: Buffer[] = [];
          upRes.on('data', (c: Buffer) => chunks.push(c));
          upRes.on('end', () => {
            const prefix = new URL(url, 'http://x').searchParams.get('prefix') ?? '';
            const body = Buffer.from(rewrite(Buffer.concat(chunks).toString('utf8'), prefix));
            res.writeHead(200, { 'content-type': 'application/xml', 'content-length': String(body.length) });
            res.end(body);
          });
          return;
        }
        if (proxy.rewriteObject !== undefined && op === 'GetObject' && (upRes.statusCode === 200 || upRes.statusCode === 206)) {
          relayRewritten(proxy.rewriteObject, url, upRes, res);
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        let relayed = 0;
        upRes.on('data', (c: Buffer) => {
          if (proxy.onResponseBytes?.(seen, (relayed += c.length)) !== 'hold') return;
          upRes.unpipe(res);
          upRes.pause();
        });
        upRes.pipe(res);
        upRes.on('error', () => res.destroy());
      },
    );
    up.on('error', () => {
      seen.status = 0;
      req.socket.destroy();
    });
    req.on('data', (c: Buffer) => (bytesUp += c.length));
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  // Not Object.assign: it would copy the getter's current value instead of the getter.
  return Object.defineProperties(proxy, Object.getOwnPropertyDescriptors({
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    get bytesUp() {
      return bytesUp;
    },
    ops: (name: string) => requests.filter((r) => r.op === name),
    peakInFlight: (name: string) => peaks.get(name) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  })) as S3Proxy;
}
