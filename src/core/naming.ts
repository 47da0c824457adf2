import { randomBytes } from 'node:crypto';

/** `20261122T030710.123Z-a1b2c3`: sorts by time; the random suffix keeps two backups in one millisecond apart. */
export const BACKUP_ID_RE = /^\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6}$/;

/** A new backup id for `now`. */
export function newBackupId(now: Date = new Date(), random: Buffer = randomBytes(3)): string {
  const iso = now.toISOString(); // 2026-11-22T03:07:10.123Z
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 23)}Z`;
  return `${stamp}-${random.toString('hex').slice(0, 6)}`;
}

/**
 * The id of a backup taken at `now` into a folder whose newest id is `newest`: never earlier than that id (its time
 * + 1 ms when `now` is not later), so that the order of ids stays the order in which backups were written even when
 * this machine's clock is behind the one that took `newest` (an NTP step back, a VM resumed from an old snapshot, a
 * second runner whose clock is ahead). `latest`, retention and `list` go by id: a backup stamped by the clock alone
 * would rank below one it replaces. `behindMs` says how far the id was moved past `now` (0: not at all).
 */
export function nextBackupId(now: Date, newest: string | undefined, random: Buffer = randomBytes(3)): { id: string; behindMs: number } {
  const floor = newest === undefined ? undefined : timeOfId(newest);
  if (floor === undefined || floor.getTime() < now.getTime()) return { id: newBackupId(now, random), behindMs: 0 };
  const at = new Date(floor.getTime() + 1);
  return { id: newBackupId(at, random), behindMs: at.getTime() - now.getTime() };
}

/** The time encoded in a backup id, or undefined if `id` is not one. */
export function timeOfId(id: string): Date | undefined {
  if (!BACKUP_ID_RE.test(id)) return undefined;
  const t = `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 19)}Z`;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** File name of a backup's manifest, relative to the cluster's folder. */
export const manifestName = (id: string) => `${id}.manifest.json`;

/** The backup id a stored file belongs to (its name up to the first dot after the id), if any. */
export function idOfFile(name: string): string | undefined {
  const id = name.slice(0, 27);
  return BACKUP_ID_RE.test(id) && (name.length === 27 || name[27] === '.') ? id : undefined;
}

/** The file name suffix of each compression: what `gunzip` and `zstd -d` expect. */
const COMPRESSION_SUFFIX: Record<string, string> = { gzip: '.gz', zstd: '.zst' };

/**
 * Every artifact format reshifter writes (`<id>.<format>...`): snapshots, key dumps, render listings, container
 * checkpoints, delta segments. Retention's orphan sweep deletes only names made of these (see `isWrittenName`).
 */
export const ARTIFACT_FORMATS = ['snapshot.db', 'raw.tar', 'render.jsonl', 'checkpoint.tar', 'delta.tar'] as const;

const WRITTEN_NAME = new RegExp(
  `^(\\d{8}T\\d{6}\\.\\d{3}Z-[0-9a-f]{6})\\.(?:manifest\\.json|(?:${ARTIFACT_FORMATS.map((f) => f.replace('.', '\\.')).join('|')})(?:\\.zst|\\.gz)?(?:\\.age)?)$`,
);

/**
 * The backup id of `name` when it is exactly a name reshifter writes: `<id>.manifest.json` or an artifact
 * (`<id>.<format>[.zst|.gz][.age]`). An operator's own `<id>.manifest.json.bak` or `<id>.snapshot.db.zst.orig` is not.
 */
export function idOfWrittenName(name: string): string | undefined {
  return WRITTEN_NAME.exec(name)?.[1];
}

/** File name of a backup's artifact: `<id>.<format>[.zst|.gz][.age]`. */
export function artifactName(id: string, format: string, compression: string, encryption: string): string {
  // A format missing from ARTIFACT_FORMATS would be taken for an operator's file by retention's sweep.
  if (!(ARTIFACT_FORMATS as readonly string[]).includes(format)) throw new Error(`artifact format ${format} is not in ARTIFACT_FORMATS`);
  return `${id}.${format}${COMPRESSION_SUFFIX[compression] ?? ''}${encryption === 'age' ? '.age' : ''}`;
}
