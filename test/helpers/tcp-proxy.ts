import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of a server (etcd), to make fault tests deterministic: it can slow the
 * server's replies to a given rate, so that a kill or a signal lands in the middle of a transfer, and it counts
 * the bytes it has passed on.
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
  /** Sends new connections to another port (after the server was restarted). */
  retarget(port: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, opts: { rate?: number; rateUp?: number } = {}): Promise<TcpProxy> {
  let target = targetPort;
  let bytesDown = 0;
  let bytesUp = 0;
  const sockets = new Set<Socket>();
  const proxy = {
    rate: opts.rate ?? 0,
    rateUp: opts.rateUp ?? 0,
  };
  const server: Server = createServer((client) => {
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
    upstream.on('data', (chunk: Buffer) => {
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
    retarget(p: number) {
      target = p;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  })) as TcpProxy;
}
