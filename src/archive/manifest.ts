import { DELTA_CONTENT_TYPE, type ContentType, type UnknownContentType } from '../core/content-type.js';
import { IntegrityError } from '../core/errors.js';
import { BACKUP_ID_RE } from '../core/naming.js';
import { kubeNameProblem } from '../kube/names.js';
import { MAX_RECIPIENTS, isAgeRecipient } from './age-keys.js';

/** What etcd was when a backup of it was taken. */
export interface EtcdFacts {
  version: string;
  revision: number;
  apiVersion: 'v2' | 'v3';
  endpoint?: string;
  /**
   * The members of the cluster it was taken from, as etcd listed them (v3 backups since this field; absent when the
   * list could not be read). A data-dir restore of a snapshot of several members without --initial-cluster warns.
   */
  members?: EtcdMember[];
  /**
   * The id of the etcd cluster it was taken from, as etcd gives it (decimal): v3 backups since this field. A backup of
   * another cluster than the one before it in its series (core/etcd-cluster-change.ts) is said loudly, and retention
   * counts each cluster's backups on their own.
   */
  clusterId?: string;
}

/** One member of the source cluster: its name (empty for a member not started yet) and peer URLs. */
export interface EtcdMember {
  name: string;
  peerURLs: string[];
  /** Its member id, as etcd gives it (decimal; recorded since clusterId is). */
  id?: string;
}

/**
 * A container checkpoint (strategy `checkpoint`): which container, where the kubelet took it, and the facts of the
 * archive itself. The archive's own sha256 lets `restore --image-archive` name the image's layer before streaming it.
 */
export interface CheckpointFacts {
  namespace: string;
  pod: string;
  container: string;
  podUid: string;
  /** The node the pod runs on, as the kubelet's pod list says. */
  node?: string;
  /** The archive's path on the node, as the kubelet answered. */
  kubeletPath: string;
  /** Its file name, as it was read from RS_CHECKPOINT_DIR. */
  fileName: string;
  /** The time the kubelet put in the file name. */
  checkpointedAt?: string;
  /** sha256 (hex) of the archive as the kubelet wrote it: the content before compression and encryption. */
  archiveSha256: string;
  /** GOARCH of the node (CRIU restores only on the same architecture). */
  architecture: string;
  /** From the archive's spec.dump and config.dump: `cri-o`, `runc`, the image the container ran. */
  containerManager?: string;
  runtime?: string;
  rootfsImageName?: string;
  rootfsImageRef?: string;
}

/**
 * Whom an age-encrypted backup was encrypted to: its recipients' public keys (`age1...`, public: what the backup job's
 * RS_ENCRYPTION_RECIPIENTS held), or a passphrase (scrypt). Never a secret. A reader whose keys fit none is told which
 * key it needs.
 */
export type EncryptedTo = { recipients: string[] } | { passphrase: true };

/** The manifest of one backup: written last, so a backup exists exactly when its manifest does. */
export interface Manifest {
  /** Manifest schema version. */
  format: 1;
  id: string;
  cluster: string;
  /** `snapshot`, `raw`, `render`, `filter:<resources>` or `checkpoint`. */
  strategy: string;
  createdAt: string;
  /** Artifact file name, relative to the manifest's folder. */
  artifact: string;
  /** The artifact's content before compression and encryption (core/content-type.ts). */
  contentType: ContentType | UnknownContentType;
  compression: 'zstd' | 'gzip' | 'none';
  encryption: 'none' | 'age';
  /** With encryption `age`: whom it was encrypted to (absent in manifests written before it was recorded). */
  encryptedTo?: EncryptedTo;
  /** sha256 (hex) and size of the stored bytes. */
  sha256: string;
  sizeBytes: number;
  /** Size before compression and encryption. */
  rawSizeBytes: number;
  /** The etcd it was taken from; every backup has it but a container checkpoint (etcdOf reads it). */
  etcd?: EtcdFacts;
  /** The container of a checkpoint backup. */
  checkpoint?: CheckpointFacts;
  /** Number of keys in a key dump. */
  keys?: number;
  /** Key prefixes a dump covered. */
  prefixes?: string[];
  /**
   * The build that wrote it. `version` is package.json's, not bumped per change: every build so far says 0.1.0, so it
   * tells no build from another. `commit` is the git commit of builds that knew it (scripts/build-commit.mjs).
   */
  tool: { name: 'reshifter'; version: string; commit?: string };
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
/** A time as reshifter writes it (toISOString); Date.parse alone takes `Dec 7 2026 (any words)` too. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
// C0 and C1 controls, DEL, format characters (bidi overrides), line and paragraph separators: as core/printable.ts.
const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const CONTROLS = new RegExp(CONTROL.source, 'gu');

/**
 * Every string is printed somewhere (list, prune, verify, warnings): none may drive the terminal or fake a line. And
 * every manifest is copied and printed as JSON by functions that recurse: one nested thousands of levels deep (a MiB
 * of `[`) overflowed the stack of `list` ("Maximum call stack size exceeded", naming nothing).
 */
function checkText(m: Record<string, unknown>, fail: (why: string) => never): void {
  const problem = structureProblem(m);
  if (problem !== undefined) fail(problem);
  if (typeof m.createdAt !== 'string' || !ISO_TIME.test(m.createdAt)) fail('field "createdAt" is missing or malformed');
  if (Number.isNaN(Date.parse(m.createdAt as string))) fail('field "createdAt" is not a date');
}

/** Levels of objects and arrays a manifest may have: its own go 4 deep (etcd.members[0].peerURLs[0]). */
const MAX_DEPTH = 16;

interface Visit {
  value: unknown;
  label: string;
  parent: Visit | undefined;
  depth: number;
}

/**
 * What is wrong with the shape of `data`: a string (field name or value) with a control character, named by its path
 * (`etcd.members[0].name`), or values nested deeper than MAX_DEPTH. Undefined when neither.
 */
function structureProblem(data: Record<string, unknown>): string | undefined {
  // Iterative, each level holding only its own label: a hostile manifest nested a million levels deep must neither
  // overflow the stack nor build a path per level.
  const stack: Visit[] = [{ value: data, label: '', parent: undefined, depth: 0 }];
  const pathOf = (v: Visit): string => {
    const labels: string[] = [];
    for (let at: Visit | undefined = v; at !== undefined; at = at.parent) labels.push(at.label);
    return labels.reverse().join('').replace(/^\./, '').slice(0, 200);
  };
  const control = (v: Visit) => `field "${pathOf(v)}" holds control characters (such as ESC or a newline), which no reshifter writes`;
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const { value, depth } = visit;
    if (typeof value === 'string') {
      if (CONTROL.test(value)) return control(visit);
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_DEPTH) return `field "${pathOf(visit)}" nests values more than ${MAX_DEPTH} levels deep, which no reshifter writes`;
    if (Array.isArray(value)) {
      value.forEach((v, i) => stack.push({ value: v, label: `[${i}]`, parent: visit, depth: depth + 1 }));
      continue;
    }
    for (const [k, v] of Object.entries(value)) {
      // A field name is printed with its controls as \u escapes, cut short: it is shown, never obeyed.
      const name = k.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).slice(0, 64);
      const child = { value: v, label: `.${name}`, parent: visit, depth: depth + 1 };
      if (CONTROL.test(k)) return control(child);
      stack.push(child);
    }
  }
  return undefined;
}
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** A build's commit as tool.commit records it (src/version.ts COMMIT_RE): shown only when it is one. */
const COMMIT_NAME = /^[0-9a-f]{7,40}(-modified)?$/;

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
  const by = writtenBy(m.tool);
  checkFormat(m.format, by, fail);
  str('id', BACKUP_ID_RE);
  str('cluster', SAFE_NAME);
  str('strategy');
  checkText(m, fail);
  str('artifact', SAFE_NAME);
  if (!(m.artifact as string).startsWith(`${m.id as string}.`)) fail('field "artifact" does not belong to this backup id');
  str('contentType');
  const known = (k: string, values: readonly string[]) => {
    const v = m[k];
    if (typeof v === 'string' && values.includes(v)) return;
    const word = typeof v === 'string' && SAFE_NAME.test(v) ? `"${v}"` : 'missing or malformed';
    const newer = `: a newer reshifter's${by}? this build reads only those; read it with a build that knows ${k} ${word}`;
    fail(`field "${k}" is ${word}, not ${values.join(', ').replace(/, (?=[^,]*$)/, ' or ')}${typeof v === 'string' && SAFE_NAME.test(v) ? newer : ''}`);
  };
  known('compression', ['zstd', 'gzip', 'none']);
  known('encryption', ['none', 'age']);
  if (m.encryptedTo !== undefined) checkEncryptedTo(m.encryptedTo, m.encryption, fail);
  str('sha256', /^[0-9a-f]{64}$/);
  num(m.sizeBytes, 'sizeBytes');
  num(m.rawSizeBytes, 'rawSizeBytes');
  // A container checkpoint reads no etcd: it records its container instead.
  if (m.strategy === 'checkpoint') checkCheckpoint(m.checkpoint, fail);
  if (m.strategy !== 'checkpoint' || m.etcd !== undefined) {
    const etcd = m.etcd as Record<string, unknown> | undefined;
    if (typeof etcd !== 'object' || etcd === null) return fail('field "etcd" is missing');
    if (typeof etcd.version !== 'string') fail('field "etcd.version" is missing');
    num(etcd.revision, 'etcd.revision');
    if (etcd.apiVersion !== 'v2' && etcd.apiVersion !== 'v3') fail('field "etcd.apiVersion" is not v2 or v3');
    if (etcd.members !== undefined) checkMembers(etcd.members, fail);
    if (etcd.clusterId !== undefined && !isEtcdId(etcd.clusterId)) fail('field "etcd.clusterId" is not an etcd id (decimal digits)');
  }
  if (m.keys !== undefined) num(m.keys, 'keys');
  if (m.prefixes !== undefined) checkPrefixes(m.prefixes, fail);
  if (m.strategy === DELTA_STRATEGY || m.contentType === DELTA_CONTENT_TYPE) checkDeltaFields(m, fail);
  const tool = m.tool as Record<string, unknown> | undefined;
  if (typeof tool !== 'object' || tool === null || typeof tool.version !== 'string') fail('field "tool.version" is missing');
  return m as unknown as Manifest;
}

/**
 * ` (commit <hex>)`: the build that wrote a manifest, when it recorded its commit; else nothing. Never its
 * tool.version: package.json's, the same 0.1.0 in every build so far, so "written by a newer reshifter (reshifter
 * 0.1.0)" was said to someone running 0.1.0.
 */
function writtenBy(tool: unknown): string {
  const commit = typeof tool === 'object' && tool !== null ? (tool as Record<string, unknown>).commit : undefined;
  return typeof commit === 'string' && COMMIT_NAME.test(commit) ? ` (commit ${commit})` : '';
}

/**
 * `format`: 1, the one this build reads. A higher number is a newer reshifter's manifest, said so with the number
 * found and the one read (never read as this one's, nor taken for damage); anything else is damage.
 */
function checkFormat(format: unknown, by: string, fail: (why: string) => never): void {
  if (format === 1) return;
  const newer = typeof format === 'number' && Number.isSafeInteger(format) && format > 1;
  fail(`field "format" is ${JSON.stringify(format)}; this build of reshifter reads manifest format 1${newer ? `: written by a newer reshifter${by}; read it with a build that reads format ${format as number}` : ''}`);
}

/**
 * `prefixes` (a key dump's, and its chain's segments'): a list of key prefixes as reshifter writes them, each starting
 * with `/`. A delta chain watches and restores the ranges they make, so text or an object there is damage, not a list.
 */
function checkPrefixes(value: unknown, fail: (why: string) => never): void {
  if (!Array.isArray(value)) fail('field "prefixes" is not a list of key prefixes');
  (value as unknown[]).forEach((p, i) => {
    if (typeof p !== 'string' || !p.startsWith('/')) fail(`field "prefixes[${i}]" is not a key prefix (text starting with "/")`);
  });
}

/** The `checkpoint` of a checkpoint manifest: the names are Kubernetes names, the hash a sha256. */
function checkCheckpoint(value: unknown, fail: (why: string) => never): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('field "checkpoint" is missing');
  const c = value as Record<string, unknown>;
  for (const k of ['namespace', 'pod', 'container'] as const) {
    if (typeof c[k] !== 'string' || kubeNameProblem(k, c[k] as string) !== undefined) fail(`field "checkpoint.${k}" is missing or malformed`);
  }
  for (const k of ['podUid', 'kubeletPath', 'fileName', 'architecture']) {
    if (typeof c[k] !== 'string' || (c[k] as string).length > 4096) fail(`field "checkpoint.${k}" is missing or malformed`);
  }
  if (typeof c.archiveSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(c.archiveSha256)) fail('field "checkpoint.archiveSha256" is missing or malformed');
  for (const k of ['node', 'checkpointedAt', 'containerManager', 'runtime', 'rootfsImageName', 'rootfsImageRef']) {
    if (c[k] !== undefined && typeof c[k] !== 'string') fail(`field "checkpoint.${k}" is not text`);
  }
}


/** `encryptedTo`: on an age backup only, either a list of well-formed age public keys or `{ passphrase: true }`. */
function checkEncryptedTo(value: unknown, encryption: unknown, fail: (why: string) => never): void {
  if (encryption !== 'age') fail('field "encryptedTo" is set on a backup that is not encrypted');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('field "encryptedTo" is not an object');
  const to = value as Record<string, unknown>;
  const keys = Object.keys(to);
  if (keys.length === 1 && to.passphrase === true) return;
  const list = to.recipients;
  if (keys.length !== 1 || !Array.isArray(list)) fail('field "encryptedTo" is neither {"recipients": [...]} nor {"passphrase": true}');
  if ((list as unknown[]).length === 0 || (list as unknown[]).length > MAX_RECIPIENTS) fail(`field "encryptedTo.recipients" is not a list of 1 to ${MAX_RECIPIENTS} keys`);
  (list as unknown[]).forEach((r, i) => {
    if (typeof r !== 'string' || !isAgeRecipient(r)) fail(`field "encryptedTo.recipients[${i}]" is not an age public key (age1...)`);
  });
}

const MAX_MEMBERS = 64;
const MAX_MEMBER_TEXT = 1024;

/** `etcd.members`: a short list of names and URL lists, text of a sane length (a warning prints them). */
function checkMembers(value: unknown, fail: (why: string) => never): void {
  if (!Array.isArray(value) || value.length > MAX_MEMBERS) fail(`field "etcd.members" is not a list of at most ${MAX_MEMBERS} members`);
  const text = (v: unknown) => typeof v === 'string' && v.length <= MAX_MEMBER_TEXT;
  (value as unknown[]).forEach((member, i) => {
    const m = member as Record<string, unknown> | null;
    if (typeof m !== 'object' || m === null || Array.isArray(m) || !text(m.name)) fail(`field "etcd.members[${i}].name" is missing or malformed`);
    const urls = (m as Record<string, unknown>).peerURLs;
    if (!Array.isArray(urls) || urls.length > MAX_MEMBERS || !urls.every(text)) fail(`field "etcd.members[${i}].peerURLs" is not a list of URLs`);
    const id = (m as Record<string, unknown>).id;
    if (id !== undefined && !isEtcdId(id)) fail(`field "etcd.members[${i}].id" is not an etcd id (decimal digits)`);
  });
}

/** An etcd cluster or member id as etcd's gRPC answers give it: a uint64 in decimal. */
function isEtcdId(v: unknown): v is string {
  return typeof v === 'string' && /^[0-9]{1,20}$/.test(v);
}

/**
 * The etcd facts of a backup that readers of etcd content need (snapshots, key dumps, listings). Only a container
 * checkpoint has none; a manifest of another kind without them was damaged, and says so.
 */
export function etcdOf(m: Manifest): EtcdFacts {
  if (m.etcd === undefined) throw new IntegrityError('manifest', `backup ${m.id} (${m.strategy}) records no etcd: it is not a backup of etcd`);
  return m.etcd;
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
    if (m[k] !== undefined && (typeof m[k] !== 'string' || !ISO_TIME.test(m[k] as string) || Number.isNaN(Date.parse(m[k] as string)))) fail(`field "${k}" is not a time`);
  }
}

/** The manifest as stored: pretty JSON with a trailing newline. */
export function serializeManifest(m: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
}
