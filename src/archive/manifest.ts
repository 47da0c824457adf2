import { DELTA_CONTENT_TYPE, type ContentType, type UnknownContentType } from '../core/content-type.js';
import { IntegrityError } from '../core/errors.js';
import { BACKUP_ID_RE } from '../core/naming.js';

/** The manifest of one backup: written last, so a backup exists exactly when its manifest does. */
export interface Manifest {
  /** Manifest schema version. */
  format: 1;
  id: string;
  cluster: string;
  /** `snapshot`, `raw`, `render` or `filter:<resources>`. */
  strategy: string;
  createdAt: string;
  /** Artifact file name, relative to the manifest's folder. */
  artifact: string;
  /** The artifact's content before compression and encryption (core/content-type.ts). */
  contentType: ContentType | UnknownContentType;
  compression: 'zstd' | 'gzip' | 'none';
  encryption: 'none' | 'age';
  /** sha256 (hex) and size of the stored bytes. */
  sha256: string;
  sizeBytes: number;
  /** Size before compression and encryption. */
  rawSizeBytes: number;
  etcd: { version: string; revision: number; apiVersion: 'v2' | 'v3'; endpoint?: string };
  /** Number of keys in a key dump. */
  keys?: number;
  /** Key prefixes a dump covered. */
  prefixes?: string[];
  tool: { name: 'reshifter'; version: string };
  durationMs?: number;
}

/** The strategy of a delta segment's manifest. */
export const DELTA_STRATEGY = 'delta';

/**
 * The manifest of a delta segment of a continuous backup: the changes of the revisions fromRevision..toRevision
 * (inclusive) that continue the chain of the full backup `base`. `etcd.revision` is toRevision (the state the chain
 * reaches with it), `prefixes` those of a key-dump base (absent: every key).
 */
export interface DeltaManifest extends Manifest {
  strategy: typeof DELTA_STRATEGY;
  contentType: typeof DELTA_CONTENT_TYPE;
  /** The id of the full backup the chain starts from. */
  base: string;
  fromRevision: number;
  toRevision: number;
  /** Changes it holds (0: a segment that only closes a chain at a revision). */
  events: number;
  /** When the watch received its first and its last change (absent when it holds none). */
  firstEventAt?: string;
  lastEventAt?: string;
}

/** True for the manifest of a delta segment (its fields were checked by parseManifest). */
export function isDeltaManifest(m: Manifest): m is DeltaManifest {
  return m.strategy === DELTA_STRATEGY || m.contentType === DELTA_CONTENT_TYPE;
}

const MAX_MANIFEST_BYTES = 1024 * 1024;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Parses and validates a stored manifest. Anything off (garbage, wrong types, an artifact name that is a path)
 * throws an IntegrityError naming `manifest` and what is wrong, never a raw JSON or type error.
 */
export function parseManifest(bytes: Buffer | string, where: string): Manifest {
  const fail = (why: string): never => {
    throw new IntegrityError('manifest', `${where}: ${why}`);
  };
  if (bytes.length > MAX_MANIFEST_BYTES) fail(`is ${bytes.length} bytes, more than a manifest can be`);
  let data: unknown;
  try {
    data = JSON.parse(bytes.toString());
  } catch (err) {
    return fail(`is not valid JSON (${(err as Error).message})`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return fail('is not a JSON object');
  const m = data as Record<string, unknown>;
  const str = (k: string, re?: RegExp) => {
    if (typeof m[k] !== 'string' || (re && !re.test(m[k] as string))) fail(`field "${k}" is missing or malformed`);
  };
  const num = (v: unknown, k: string) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`field "${k}" is missing or not a count`);
  };
  if (m.format !== 1) fail(`field "format" is ${JSON.stringify(m.format)}; this version of reshifter reads format 1`);
  str('id', BACKUP_ID_RE);
  str('cluster', SAFE_NAME);
  str('strategy');
  str('createdAt');
  if (Number.isNaN(Date.parse(m.createdAt as string))) fail('field "createdAt" is not a date');
  str('artifact', SAFE_NAME);
  if (!(m.artifact as string).startsWith(`${m.id as string}.`)) fail('field "artifact" does not belong to this backup id');
  str('contentType');
  if (m.compression !== 'zstd' && m.compression !== 'gzip' && m.compression !== 'none') fail('field "compression" is not zstd, gzip or none');
  if (m.encryption !== 'none' && m.encryption !== 'age') fail('field "encryption" is not none or age');
  str('sha256', /^[0-9a-f]{64}$/);
  num(m.sizeBytes, 'sizeBytes');
  num(m.rawSizeBytes, 'rawSizeBytes');
  const etcd = m.etcd as Record<string, unknown> | undefined;
  if (typeof etcd !== 'object' || etcd === null) return fail('field "etcd" is missing');
  if (typeof etcd.version !== 'string') fail('field "etcd.version" is missing');
  num(etcd.revision, 'etcd.revision');
  if (etcd.apiVersion !== 'v2' && etcd.apiVersion !== 'v3') fail('field "etcd.apiVersion" is not v2 or v3');
  if (m.keys !== undefined) num(m.keys, 'keys');
  if (m.strategy === DELTA_STRATEGY || m.contentType === DELTA_CONTENT_TYPE) checkDeltaFields(m, fail);
  const tool = m.tool as Record<string, unknown> | undefined;
  if (typeof tool !== 'object' || tool === null || typeof tool.version !== 'string') fail('field "tool.version" is missing');
  return m as unknown as Manifest;
}

/** A delta segment's own fields: a chain is only as good as the revisions its manifests name. */
function checkDeltaFields(m: Record<string, unknown>, fail: (why: string) => never): void {
  if (m.strategy !== DELTA_STRATEGY || m.contentType !== DELTA_CONTENT_TYPE) fail(`a delta segment has strategy "${DELTA_STRATEGY}" and content type "${DELTA_CONTENT_TYPE}"`);
  if (typeof m.base !== 'string' || !BACKUP_ID_RE.test(m.base)) fail('field "base" is missing or not a backup id');
  for (const k of ['fromRevision', 'toRevision', 'events'] as const) {
    if (typeof m[k] !== 'number' || !Number.isSafeInteger(m[k]) || (m[k] as number) < 0) fail(`field "${k}" is missing or not a count`);
  }
  if ((m.fromRevision as number) < 1 || (m.toRevision as number) < (m.fromRevision as number)) fail(`revisions ${String(m.fromRevision)}..${String(m.toRevision)} are no range`);
  for (const k of ['firstEventAt', 'lastEventAt'] as const) {
    if (m[k] !== undefined && (typeof m[k] !== 'string' || Number.isNaN(Date.parse(m[k] as string)))) fail(`field "${k}" is not a time`);
  }
}

/** The manifest as stored: pretty JSON with a trailing newline. */
export function serializeManifest(m: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
}
