import type { Etcd3 } from 'etcd3';
import type { Config } from '../config/types.js';
import { createEtcdClient, readTlsFiles } from './client.js';
import { TlsResetError, explainTlsReset } from './errors.js';
import { interruptibleBy } from './interrupt.js';

/**
 * Runs `fn` with an etcd v3 client and closes it afterwards. Every etcd request `fn` makes (v3 or v2) ends when
 * `signal` aborts, with an AbortedError, however long etcd would have been waited for. A connection reset during the
 * TLS handshake is explained by asking the endpoint (plain http? our client certificate refused?) before it is
 * reported.
 */
export async function withEtcd<T>(config: Config, signal: AbortSignal, fn: (etcd: Etcd3) => Promise<T>): Promise<T> {
  const etcd = createEtcdClient(config.etcd);
  try {
    return await interruptibleBy(signal, () => fn(etcd));
  } catch (err) {
    if (err instanceof TlsResetError) throw await explainTlsReset(err, config.etcd, readTlsFiles(config.etcd));
    throw err;
  } finally {
    etcd.close();
  }
}
