import { createServer } from 'node:net';

/** A loopback port that counts the connections made to it and drops each at once. */
export interface Trap {
  port: number;
  /** Connections made so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * Stands in for etcd or S3 where a test asserts that no work was done (bad configuration, a runtime refused): any
 * connection to it is counted.
 */
export async function startTrap(): Promise<Trap> {
  let connections = 0;
  const server = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    get connections() {
      return connections;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
