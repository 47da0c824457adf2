import type { StoreConfig } from '../config/types.js';
import { LocalStore } from './local-store.js';
import { S3Store } from './s3-store.js';
import type { Store } from './types.js';

/** The store the configuration names: S3 when RS_S3_BUCKET is set, else the local directory. */
export function createStore(cfg: StoreConfig): Store {
  return cfg.kind === 's3' ? new S3Store(cfg) : new LocalStore(cfg.dir);
}
