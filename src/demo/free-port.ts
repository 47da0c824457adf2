import { createServer } from 'node:net';

/** A TCP port that was free on `host` (loopback) a moment ago. */
export async function freePort(host: '127.0.0.1' | '::1' = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
