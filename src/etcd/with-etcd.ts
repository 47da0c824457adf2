import type { Etcd3 } from 'etcd3';
import type { Config } from '../config/types.js';
import { createEtcdClient, readTlsFiles } from './client.js';
import { TlsResetError, explainTlsReset } from './errors.js';

/**
 * Runs `fn` with an etcd v3 client and closes it afterwards. A connection reset during the TLS handshake is
 * explained by asking the endpoint (plain http? our client certificate refused?) before it is reported.
 */
export async function withEtcd<T>(config: Config, fn: (etcd: Etcd3) => Promise<T>): Promise<T> {
  const etcd = createEtcdClient(config.etcd);
  try {
    return await fn(etcd);
  } catch (err) {
    if (err instanceof TlsResetError) throw await explainTlsReset(err, config.etcd, readTlsFiles(config.etcd));
    throw err;
  } finally {
    etcd.close();
  }
}
