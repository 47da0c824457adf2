import { Readable } from 'node:stream';
import { serializeManifest, type Manifest } from '../../src/archive/manifest.js';
import { manifestName, newBackupId } from '../../src/core/naming.js';
import type { Store } from '../../src/store/types.js';

/**
 * Backup `m` as a machine whose clock was `aheadMs` ahead would have stored it: its files under a later id, its
 * createdAt that clock's. The artifact holds no id: its sha256 stays right under the new name.
 */
export async function moveAhead(store: Store, m: Manifest, aheadMs: number): Promise<Manifest> {
  const at = new Date(Date.parse(m.createdAt) + aheadMs);
  const id = newBackupId(at);
  const moved: Manifest = { ...m, id, createdAt: at.toISOString(), artifact: m.artifact.replace(m.id, id) };
  await store.put(`${m.cluster}/${moved.artifact}`, await store.get(`${m.cluster}/${m.artifact}`));
  await store.put(`${m.cluster}/${manifestName(id)}`, Readable.from([serializeManifest(moved)]));
  await store.delete(`${m.cluster}/${manifestName(m.id)}`);
  await store.delete(`${m.cluster}/${m.artifact}`);
  return moved;
}
