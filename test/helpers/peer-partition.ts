import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * TCP proxies in front of each member's peer port (its advertised peer URL), that can cut one member off from the
 * others while it still answers clients: the minority side of a network partition. etcd's peers talk both ways over
 * connections either side opens (a member reads its peer's messages from a stream it dialled, and sends by POSTing to
 * the peer), so a member is cut off by refusing every connection to its peer port and every connection it opens to
 * the others: each rafthttp request names its sender in `X-Server-From` (peers speak plain HTTP in these tests).
 */
export interface PeerPartition {
  /** The port to advertise for member `i` (its proxy); the member listens on `targets[i]`. */
  ports: number[];
  /** Sets member `i`'s hex id (as etcd names it in X-Server-From), once the cluster is up. */
  setId(i: number, hexId: string): void;
  /** Cuts member `i` off from the others: its open peer connections are closed, new ones refused. */
  isolate(i: number): void;
  /** Lets member `i` talk to the others again. */
  rejoin(i: number): void;
  close(): Promise<void>;
}

interface Conn {
  socket: Socket;
  upstream?: Socket;
  /** The hex id of the member that opened it, once its first request was read (ids may be set only later). */
  from?: string;
}

export async function startPeerPartition(targets: number[]): Promise<PeerPartition> {
  const ids: Array<string | undefined> = targets.map(() => undefined);
  const isolated = new Set<number>();
  const conns: Conn[][] = targets.map(() => []);
  const senderOf = (head: string) => /x-server-from:\s*([0-9a-f]+)/i.exec(head)?.[1]?.toLowerCase();
  const cutOff = (from: string | undefined) => from !== undefined && [...isolated].some((i) => ids[i] === from);
  const drop = (c: Conn) => {
    c.socket.destroy();
    c.upstream?.destroy();
  };
  const serve = (to: number) => (socket: Socket) => {
    const conn: Conn = { socket };
    conns[to]!.push(conn);
    socket.on('close', () => (conns[to] = conns[to]!.filter((c) => c !== conn)));
    socket.on('error', () => undefined);
    if (isolated.has(to)) return drop(conn);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (!head.includes('\r\n\r\n') && head.length < 16_384) return;
      socket.off('data', onData);
      socket.pause();
      conn.from = senderOf(head.toString('latin1'));
      if (isolated.has(to) || cutOff(conn.from)) return drop(conn);
      const upstream = connect(targets[to]!, '127.0.0.1');
      conn.upstream = upstream;
      upstream.on('error', () => drop(conn));
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
      socket.resume();
    };
    socket.on('data', onData);
  };
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < targets.length; i++) {
    const server = createServer(serve(i));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    ports.push((server.address() as { port: number }).port);
  }
  return {
    ports,
    setId: (i, hexId) => (ids[i] = hexId.toLowerCase()),
    isolate(i) {
      isolated.add(i);
      for (const [to, list] of conns.entries()) for (const c of list) if (to === i || (c.from !== undefined && c.from === ids[i])) drop(c);
    },
    rejoin: (i) => void isolated.delete(i),
    async close() {
      for (const list of conns) for (const c of list) drop(c);
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
