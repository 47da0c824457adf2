import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of a server (etcd), to make fault tests deterministic: it can slow the
 * server's replies to a given rate, so that a kill or a signal lands in the middle of a transfer, cut every
 * connection, or hold the server's answers back, and it counts the bytes it has passed on.
 */
export interface TcpProxy {
  /** `host:port` of the proxy. */
  address: string;
  port: number;
  /** Bytes passed from the server to clients so far. */
  readonly bytesDown: number;
  /** Bytes passed from clients to the server so far. */
  readonly bytesUp: number;
  /** Replies are slowed to this many bytes per second (0: unlimited). */
  rate: number;
  /** Requests are slowed to this many bytes per second (0: unlimited). */
  rateUp: number;
  /**
   * While true, the server's answers to requests (HTTP/2 HEADERS, DATA and RST_STREAM frames of streams) are held
   * back and never delivered, while its connection frames (SETTINGS, PING, WINDOW_UPDATE) still pass, so clients go
   * on sending: etcd applies what it is sent and nobody hears of it. Only for plain-text HTTP/2 (h2c) servers.
   */
  holdReplies: boolean;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Sends new connections to another port (after the server was restarted). */
  retarget(port: number): void;
  /** Closes every open connection (a network cut); new ones are accepted as before. */
  cut(): void;
  close(): Promise<void>;
}

/** HTTP/2 frame types that answer a request (on a stream): DATA, HEADERS, RST_STREAM, CONTINUATION. */
const STREAM_FRAMES = new Set([0x0, 0x1, 0x3, 0x9]);

/**
 * Splits a server's bytes into whole HTTP/2 frames (a server's side starts with a frame, no preface); an HTTP/1
 * server's answers (etcd's v2 API, /version, /health) are passed on as they come.
 */
function frameSplitter(): (chunk: Buffer) => Buffer[] {
  let pending: Buffer = Buffer.alloc(0);
  let http1: boolean | undefined;
  return (chunk) => {
    http1 ??= chunk.subarray(0, 5).toString('latin1') === 'HTTP/';
    if (http1) return [chunk];
    pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    const frames: Buffer[] = [];
    while (pending.length >= 9) {
      const size = 9 + pending.readUIntBE(0, 3);
      if (pending.length < size) break;
      frames.push(pending.subarray(0, size));
      pending = pending.subarray(size);
    }
    return frames;
  };
}

export async function startTcpProxy(targetPort: number, opts: { rate?: number; rateUp?: number } = {}): Promise<TcpProxy> {
  let target = targetPort;
  let bytesDown = 0;
  let bytesUp = 0;
  let connections = 0;
  const sockets = new Set<Socket>();
  const proxy = {
    rate: opts.rate ?? 0,
    rateUp: opts.rateUp ?? 0,
    holdReplies: false,
  };
  const server: Server = createServer((client) => {
    connections++;
    const frames = frameSplitter();
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
    // Client -> server: counted, and slowed to `rateUp` by pausing the client.
    client.on('data', (chunk: Buffer) => {
      bytesUp += chunk.length;
      const ok = upstream.write(chunk);
      if (proxy.rateUp > 0) {
        client.pause();
        setTimeout(() => client.resume(), (chunk.length / proxy.rateUp) * 1000);
      } else if (!ok) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
    // Server -> client. Throttled, the proxy reads the server eagerly and hands bytes on at `rate`; when the server
    // goes away, whatever it sent that the client has not received yet is dropped with the connection, exactly as
    // if the server had died before sending it.
    const queue: Buffer[] = [];
    let pumping = false;
    const pump = async () => {
      if (pumping) return;
      pumping = true;
      while (queue.length > 0 && !client.destroyed) {
        const chunk = queue.shift()!;
        const piece = chunk.subarray(0, 64 * 1024);
        if (piece.length < chunk.length) queue.unshift(chunk.subarray(piece.length));
        bytesDown += piece.length;
        client.write(piece);
        if (proxy.rate > 0) await new Promise((r) => setTimeout(r, (piece.length / proxy.rate) * 1000));
      }
      pumping = false;
    };
    upstream.on('data', (data: Buffer) => {
      // Frame by frame (whole frames only), so that answers can be held back from any point on.
      const chunk = Buffer.concat(frames(data).filter((f) => !(proxy.holdReplies && STREAM_FRAMES.has(f[3]!) && (f.readUInt32BE(5) & 0x7fffffff) !== 0)));
      if (chunk.length === 0) return;
      if (proxy.rate > 0 || queue.length > 0) {
        queue.push(chunk);
        void pump();
        return;
      }
      bytesDown += chunk.length;
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    upstream.on('end', () => {
      queue.length = 0;
      closeBoth();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  // Not Object.assign: it would copy the getter's current value instead of the getter.
  return Object.defineProperties(proxy, Object.getOwnPropertyDescriptors({
    address: `127.0.0.1:${port}`,
    port,
    get bytesDown() {
      return bytesDown;
    },
    get bytesUp() {
      return bytesUp;
    },
    get connections() {
      return connections;
    },
    retarget(p: number) {
      target = p;
    },
    cut() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  })) as TcpProxy;
}
