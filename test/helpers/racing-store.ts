import type { Readable } from 'node:stream';
import { LocalStore } from '../../src/store/local-store.js';
import type { GetOptions, ListOptions, ObjectInfo, Store } from '../../src/store/types.js';

/**
 * A local folder read as a remote store is (no localPath: an artifact is fetched, not read in place), in which
 * `onGet` runs as the object whose key ends with `artifact` is fetched: between a restore's check of its target and
 * its write, where an operator's own file may appear.
 */
export class StoreThatRaces implements Store {
  private readonly local: LocalStore;
  readonly location: string;
  constructor(dir: string, private readonly artifact: string, private readonly onGet: () => Promise<void>) {
    this.local = new LocalStore(dir);
    this.location = this.local.location;
  }
  put(key: string, body: Readable, opts?: { signal?: AbortSignal }): Promise<void> {
    return this.local.put(key, body, opts);
  }
  async get(key: string, opts: GetOptions = {}): Promise<Readable> {
    if (key.endsWith(this.artifact)) await this.onGet();
    return this.local.get(key, opts);
  }
  list(prefix: string, opts?: ListOptions): Promise<ObjectInfo[]> {
    return this.local.list(prefix, opts);
  }
  stat(key: string): Promise<ObjectInfo | undefined> {
    return this.local.stat(key);
  }
  folders(prefix: string): Promise<string[]> {
    return this.local.folders(prefix);
  }
  delete(key: string): Promise<boolean | undefined> {
    return this.local.delete(key);
  }
  close(): Promise<void> {
    return this.local.close();
  }
}
