import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { tarHeaders } from '../../src/archive/tar-header.js';
import { tarEnd, tarPadding } from '../../src/archive/tar.js';

/**
 * Writes a container checkpoint archive in the layout CRI-O gives the kubelet (internal/lib/checkpoint.go,
 * exportCheckpoint): an uncompressed tar, entries in CRI-O's include order: `stats-dump`, `dump.log`, `checkpoint/`
 * with CRIU's images (`inventory.img`, `core-1.img`, `mm-1.img`, `pagemap-1.img`, `pages-1.img`, ...;
 * runc's `descriptors.json`), `config.dump` and `spec.dump` (JSON as checkpointctl's test data has them),
 * `bind.mounts`, then `rootfs-diff.tar` and the container log. The images carry CRIU's magic numbers
 * (criu/include/magic.h) and random bytes: no CRIU runs here, only the layout and the bytes matter.
 */
export interface ArchiveSpec {
  namespace: string;
  pod: string;
  container: string;
  podUid?: string;
  /** Bytes of `checkpoint/pages-1.img` (the process memory), default 64 KiB; written in 1 MiB pieces. */
  pagesBytes?: number;
  /** Include `rootfs-diff.tar` (changed files in the container), default true. */
  rootfsDiff?: boolean;
  /** Leave out an entry, to make a broken archive. */
  omit?: Array<'config.dump' | 'spec.dump' | 'checkpoint/inventory.img' | 'checkpoint/'>;
  /** Modification time, seconds since the epoch. */
  mtime?: number;
}

const IMG_COMMON_MAGIC = 0x54564319;
const MAGIC: Record<string, number> = {
  'inventory.img': 0x58313116,
  'core-1.img': 0x55053847,
  'mm-1.img': 0x57492820,
  'pagemap-1.img': 0x56084025,
  'pstree.img': 0x50273030,
  'ids-1.img': 0x54432030,
  'fs-1.img': 0x51403912,
  'files.img': 0x56303138,
};

function criuImage(name: string): Buffer {
  const head = Buffer.alloc(8);
  // inventory.img carries only its own magic; the others the common magic first (criu's image format v1.1).
  if (name === 'inventory.img') head.writeUInt32LE(MAGIC[name]!, 0);
  else {
    head.writeUInt32LE(IMG_COMMON_MAGIC, 0);
    head.writeUInt32LE(MAGIC[name]!, 4);
  }
  return Buffer.concat([name === 'inventory.img' ? head.subarray(0, 4) : head, randomBytes(64 + (name.length * 37) % 300)]);
}

/** A small tar of changed files, as CRI-O's rootfs-diff.tar holds them (a tar inside the tar). */
function rootfsDiffTar(mtime: number): Buffer {
  const file = Buffer.from('written by the app after start\n');
  return Buffer.concat([
    ...tarHeaders({ name: 'var/', kind: 'directory', size: 0, mode: 0o755, mtime }),
    ...tarHeaders({ name: 'var/lib/app/state.txt', kind: 'file', size: file.length, mode: 0o644, mtime }),
    file,
    tarPadding(file.length),
    tarEnd(),
  ]);
}

export function configDump(s: ArchiveSpec, containerId: string): Buffer {
  return Buffer.from(
    JSON.stringify(
      {
        id: containerId,
        name: `k8s_${s.container}_${s.pod}_${s.namespace}_${s.podUid ?? randomUUID()}_0`,
        rootfsImage: `docker.io/library/${s.container}:latest`,
        rootfsImageRef: randomBytes(32).toString('hex'),
        rootfsImageName: `docker.io/library/${s.container}:latest`,
        runtime: 'runc',
        createdTime: new Date(Date.now() - 3600_000).toISOString(),
        checkpointedTime: new Date().toISOString(),
        restoredTime: '0001-01-01T00:00:00Z',
        restored: false,
      },
      null,
      '  ',
    ),
  );
}

export function specDump(s: ArchiveSpec): Buffer {
  return Buffer.from(
    JSON.stringify(
      {
        ociVersion: '1.0.2-dev',
        process: { user: { uid: 0, gid: 0 }, args: ['/app'], env: ['PATH=/usr/bin'], cwd: '/' },
        root: { path: '/var/lib/containers/storage/overlay/merged' },
        hostname: s.pod,
        annotations: {
          'io.container.manager': 'cri-o',
          'io.kubernetes.container.hash': '1511917a',
          'io.kubernetes.container.name': s.container,
          'io.kubernetes.pod.name': s.pod,
          'io.kubernetes.pod.namespace': s.namespace,
          'io.kubernetes.pod.uid': s.podUid ?? randomUUID(),
        },
        linux: { namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }] },
      },
      null,
      '  ',
    ),
  );
}

/** Writes the archive to `path` (mode 0600, as CRI-O does: it holds every memory page); resolves its size. */
export async function writeCheckpointArchive(path: string, s: ArchiveSpec): Promise<number> {
  const mtime = s.mtime ?? Math.floor(Date.now() / 1000);
  const omit = new Set(s.omit ?? []);
  const out = createWriteStream(path, { mode: 0o600, flags: 'wx' });
  let size = 0;
  const put = async (b: Buffer) => {
    size += b.length;
    if (!out.write(b)) await once(out, 'drain');
  };
  const file = async (name: string, data: Buffer) => {
    if (omit.has(name as never)) return;
    for (const h of tarHeaders({ name, kind: 'file', size: data.length, mode: 0o600, mtime })) await put(h);
    await put(data);
    await put(tarPadding(data.length));
  };
  const containerId = randomBytes(32).toString('hex');
  await file('stats-dump', Buffer.concat([Buffer.from([0x40, 0x59, 0x10, 0x55]), randomBytes(60)]));
  await file('dump.log', Buffer.from('(00.000000) Version: 3.19\n(00.010000) Dumping finished successfully\n'));
  if (!omit.has('checkpoint/')) {
    for (const h of tarHeaders({ name: 'checkpoint/', kind: 'directory', size: 0, mode: 0o700, mtime })) await put(h);
    for (const name of ['core-1.img', 'descriptors.json', 'files.img', 'fs-1.img', 'ids-1.img', 'inventory.img', 'mm-1.img', 'pagemap-1.img']) {
      await file(`checkpoint/${name}`, name.endsWith('.json') ? Buffer.from('["/dev/null","pipe:[12345]","pipe:[12346]"]') : criuImage(name));
    }
    const pages = s.pagesBytes ?? 64 * 1024;
    for (const h of tarHeaders({ name: 'checkpoint/pages-1.img', kind: 'file', size: pages, mode: 0o600, mtime })) await put(h);
    const piece = randomBytes(Math.min(pages, 1024 * 1024));
    for (let left = pages; left > 0; left -= piece.length) await put(left >= piece.length ? piece : piece.subarray(0, left));
    await put(tarPadding(pages));
    await file('checkpoint/pstree.img', criuImage('pstree.img'));
  }
  await file('config.dump', configDump(s, containerId));
  await file('spec.dump', specDump(s));
  await file('bind.mounts', Buffer.from(JSON.stringify([{ source: '/etc/resolv.conf', destination: '/etc/resolv.conf', file_type: 'file', permissions: 420 }])));
  if (s.rootfsDiff ?? true) await file('rootfs-diff.tar', rootfsDiffTar(mtime));
  await file('io.kubernetes.cri-o.LogPath', Buffer.from('2024-02-29T18:28:17.000000000Z stdout F serving on :8080\n'));
  await put(tarEnd());
  out.end();
  await once(out, 'close');
  return size;
}
