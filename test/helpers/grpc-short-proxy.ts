import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

/**
 * A loopback gRPC (h2c) proxy in front of an etcd member that ends a Maintenance.Snapshot stream early and cleanly:
 * after `cutAfterBytes` of whole gRPC messages it stops relaying and ends the call with status OK, as a member (or an
 * HTTP/2 proxy before it) that closes the stream without an error would. Every other call is relayed as it is.
 * `budget.cuts` is shared by proxies: the number of snapshot streams still to cut, whichever member serves them.
 * `calls`, given, counts the calls relayed by their method (`/etcdserverpb.Maintenance/Status`).
 */
export interface ShortSnapshotProxy {
  /** `host:port` of the proxy. */
  address: string;
  close(): Promise<void>;
}

const SNAPSHOT_PATH = '/etcdserverpb.Maintenance/Snapshot';
/** Headers HTTP/2 forbids relaying, and pseudo-headers set by the response itself. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

function relayable(h: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(h).filter(([k]) => !HOP.has(k)));
}

export async function startShortSnapshotProxy(target: string, opts: { cutAfterBytes: number; budget: { cuts: number }; calls?: Map<string, number> }): Promise<ShortSnapshotProxy> {
  const upstream = http2.connect(`http://${target}`);
  upstream.on('error', () => undefined);
  const server = http2.createServer();
  server.on('stream', (down, headers) => {
    const path = String(headers[':path']);
    opts.calls?.set(path, (opts.calls.get(path) ?? 0) + 1);
    const up = upstream.request(relayable(headers));
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
    down.pipe(up);
    const cut = headers[':path'] === SNAPSHOT_PATH && opts.budget.cuts > 0 ? (opts.budget.cuts--, true) : false;
    let trailers: http2.OutgoingHttpHeaders = { 'grpc-status': '0' };
    up.on('trailers', (t) => (trailers = relayable(t)));
    up.on('response', (h) => {
      // The client gave up on the call (a cancelled snapshot, the backup over) before its answer came: nothing to relay
      // (respond on a destroyed stream throws, uncaught, in the test's process).
      if (down.destroyed || down.closed) {
        up.destroy();
        return;
      }
      if (h['grpc-status'] !== undefined) {
        down.respond(relayable(h), { endStream: true });
        return;
      }
      down.respond(relayable(h), { waitForTrailers: true });
      down.on('wantTrailers', () => down.sendTrailers(trailers));
      if (!cut) {
        up.pipe(down);
        return;
      }
      relayShort(up, down, opts.cutAfterBytes, () => (trailers = { 'grpc-status': '0' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        upstream.close();
        server.close(() => resolve());
        // Open sessions would hold close() forever.
        setTimeout(resolve, 1000).unref();
      }),
  };
}

/** Relays whole gRPC messages (5-byte header + body) until `limit` bytes went, then ends the response cleanly. */
function relayShort(up: http2.ClientHttp2Stream, down: http2.ServerHttp2Stream, limit: number, clean: () => void): void {
  let pending = Buffer.alloc(0);
  let sent = 0;
  let done = false;
  up.on('data', (chunk: Buffer) => {
    if (done) return;
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const size = 5 + pending.readUInt32BE(1);
      if (pending.length < size) break;
      down.write(pending.subarray(0, size));
      sent += size;
      pending = pending.subarray(size);
      if (sent >= limit) {
        done = true;
        clean();
        up.close(http2.constants.NGHTTP2_CANCEL);
        down.end();
        return;
      }
    }
  });
  up.on('end', () => {
    if (!done) down.end();
  });
}
