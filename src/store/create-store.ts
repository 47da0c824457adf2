import type { Readable } from 'node:stream';
import type { StoreConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { LocalStore } from './local-store.js';
import type { GetOptions, ListOptions, ObjectInfo, Store } from './types.js';

type S3Config = Extract<StoreConfig, { kind: 's3' }>;

/** The store the configuration names: S3 when RS_S3_BUCKET is set, else the local directory. */
export function createStore(cfg: StoreConfig, log?: Logger): Store {
  return cfg.kind === 's3' ? new LazyS3Store(cfg, log) : new LocalStore(cfg.dir, log?.child({ component: 'store' }));
}

/**
 * The S3 store, with the AWS SDK loaded on first use: loading it costs ~0.2 s and ~20 MB, which a backup to a
 * local directory (or a command that never touches the store) should not pay.
 */
class LazyS3Store implements Store {
  readonly location: string;
  readonly s3Prefix: string;
  private store?: Promise<Store>;

  constructor(
    private readonly cfg: S3Config,
    private readonly log?: Logger,
  ) {
    this.location = `s3://${cfg.bucket}/${cfg.prefix}`;
    this.s3Prefix = cfg.prefix;
  }

  private open(): Promise<Store> {
    this.store ??= import('./s3-store.js').then(({ S3Store }) => new S3Store(this.cfg, this.log));
    return this.store;
  }

  async put(key: string, body: Readable, opts?: { signal?: AbortSignal; size?: number }): Promise<void> {
    return (await this.open()).put(key, body, opts);
  }
  async get(key: string, opts?: GetOptions): Promise<Readable> {
    return (await this.open()).get(key, opts);
  }
  async list(prefix: string, opts?: ListOptions): Promise<ObjectInfo[]> {
    return (await this.open()).list(prefix, opts);
  }
  async stat(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo | undefined> {
    return (await this.open()).stat(key, opts);
  }
  async folders(prefix: string): Promise<string[]> {
    return (await this.open()).folders(prefix);
  }
  async delete(key: string): Promise<boolean | undefined> {
    return (await this.open()).delete(key);
  }
  async close(): Promise<void> {
    if (this.store) await (await this.store).close();
  }
}
