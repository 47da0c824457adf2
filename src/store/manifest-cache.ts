import type { Manifest } from '../archive/manifest.js';
import type { ObjectInfo, Store } from './types.js';

interface Cached {
  size: number;
  modified: number;
  manifest: Manifest;
}

/** Per store object (one per process and configuration), so every repository over it shares what was read. */
const caches = new WeakMap<Store, Map<string, Cached>>();

/**
 * Manifests already read, by key, for a long-running `run`: a backup's manifest is written once, whole, and never
 * changed, yet every listing (the web UI's page and its refresh, `GET /api/v1/backups`, each `latest`, retention)
 * read every one again: with thousands of backups, thousands of S3 requests and seconds per listing. A manifest is
 * taken from here only while the listing shows it at the same size and time (one rewritten by hand is read again),
 * and forgetMissing drops those a listing no longer shows, so the cache holds at most the folder's manifests.
 */
export class ManifestCache {
  private readonly map: Map<string, Cached>;

  constructor(store: Store) {
    let map = caches.get(store);
    if (map === undefined) caches.set(store, (map = new Map()));
    this.map = map;
  }

  /** The manifest read before for the object as `o` lists it, or undefined. */
  get(o: ObjectInfo): Manifest | undefined {
    const c = this.map.get(o.key);
    if (c === undefined || c.size !== o.size || c.modified !== o.lastModified.getTime()) return undefined;
    return structuredClone(c.manifest);
  }

  set(o: ObjectInfo, manifest: Manifest): void {
    this.map.set(o.key, { size: o.size, modified: o.lastModified.getTime(), manifest: structuredClone(manifest) });
  }

  /** Forgets the manifests under `folder` that `listed` (the folder's whole listing) no longer holds. */
  forgetMissing(folder: string, listed: readonly ObjectInfo[]): void {
    const keep = new Set(listed.map((o) => o.key));
    for (const key of this.map.keys()) if (key.startsWith(folder) && !keep.has(key)) this.map.delete(key);
  }
}
