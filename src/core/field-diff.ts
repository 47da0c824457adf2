import { CborReader, decodeValue, type DecodedValue } from '../kube/index.js';
import { isRecord } from '../kube/object-meta.js';
import { decodeProtobufData } from '../kube/protobuf-data.js';

/** One field that differs between two versions of an object. */
export interface FieldChange {
  /** Where, as in `kubectl explain` and JSONPath: `spec.replicas`, `data["app.conf"]`, `spec.containers[0].image`. */
  path: string;
  change: 'added' | 'removed' | 'changed';
  /** The old value as JSON text, cut to `maxValueChars`; absent when added, or when values are hidden. */
  from?: string;
  /** The new value as JSON text, cut to `maxValueChars`; absent when removed, or when values are hidden. */
  to?: string;
}

/** Which fields of a changed object differ. */
export interface FieldDiff {
  /**
   * What could be compared: `object` the whole decoded object (JSON, CBOR; for protobuf ConfigMaps and Secrets their
   * metadata and data), `metadata` apiVersion, kind and metadata only (other protobuf values: their body cannot be
   * named without the API's schemas), `none` nothing (see `note`).
   */
  compared: 'object' | 'metadata' | 'none';
  /** The differing fields in the object's order, at most `maxChanges`. */
  changes: FieldChange[];
  /** More fields differ than `changes` lists. */
  truncated: boolean;
  /**
   * Why `from` and `to` are left out: `sensitive` for Secrets and the like (see isSensitiveObject), `no-token` when
   * the API that answered has no token, so anyone who reaches it may read the answer.
   */
  valuesHidden?: 'sensitive' | 'no-token';
  /** Said when nothing, or not everything, could be compared, or when the fields read are equal. */
  note?: string;
}

export interface FieldDiffOptions {
  /** Most changes listed per object. Default 50. */
  maxChanges?: number;
  /** Longest value text, in characters, before it is cut (with …). Default 160. */
  maxValueChars?: number;
  /** Values bigger than this are not decoded. Default 4 MiB (etcd's limit is 1.5 MiB by default). */
  maxValueBytes?: number;
}

/** A decoded side of the comparison. */
interface View {
  encoding: DecodedValue['encoding'];
  /** apiVersion, kind and metadata as decodeValue gives them: the same for every encoding of one object. */
  header: Record<string, unknown>;
  /** The whole object when it could be decoded (JSON, CBOR, protobuf ConfigMap and Secret). */
  body?: Record<string, unknown>;
  kind?: string;
  labels?: Record<string, string>;
}

// Resources and kinds whose values are credentials: their changes are named, their values never shown. OAuth tokens
// and clients are OpenShift's (a client holds its secret; a token object's name is the token on older versions).
const SENSITIVE_RESOURCES = new Set(['secrets', 'oauthaccesstokens', 'oauthauthorizetokens', 'useroauthaccesstokens', 'oauthclients']);
const SENSITIVE_KINDS = new Set(['Secret', 'OAuthAccessToken', 'OAuthAuthorizeToken', 'UserOAuthAccessToken', 'OAuthClient']);

// Fields of otherwise readable objects that hold credentials: their changes are named, their values never shown (nor
// those of a field around them, `spec.tls` added whole). OpenShift's Route keeps its TLS private key in spec.tls.key.
const SENSITIVE_PATHS: ReadonlyMap<string, readonly string[]> = new Map([['Route', ['spec.tls.key']]]);

// Bulky bookkeeping compared as one field rather than entry by entry: every update rewrites its timestamps.
const OPAQUE_PATHS = new Set(['metadata.managedFields']);
const MAX_DEPTH = 100;
const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * True when an object's values must never be shown: Secrets (by resource or kind), OpenShift's OAuth tokens and
 * clients, and Helm releases kept as ConfigMaps (label owner=helm: they hold the chart's values, passwords included).
 */
export function isSensitiveObject(resource: string | undefined, kind: string | undefined, labels: Record<string, string> | undefined): boolean {
  if (resource !== undefined && SENSITIVE_RESOURCES.has(resource.split('.')[0]!)) return true;
  if (kind !== undefined && SENSITIVE_KINDS.has(kind)) return true;
  return (kind === 'ConfigMap' || resource === 'configmaps') && labels?.['owner'] === 'helm';
}

/**
 * Which fields differ between two etcd values of one key (`resource` as the diff names it: `secrets`,
 * `deployments`...). Returns undefined when neither value holds a Kubernetes object (plain keys, empty values).
 * Pure and bounded: at most `maxChanges` changes of at most `maxValueChars` characters each; Secrets' values (see
 * isSensitiveObject) are never included, only their paths.
 */
export function fieldDiff(from: Uint8Array, to: Uint8Array, resource?: string, opts: FieldDiffOptions = {}): FieldDiff | undefined {
  const maxBytes = opts.maxValueBytes ?? 4 * 1024 * 1024;
  if (from.length > maxBytes || to.length > maxBytes) {
    return none(`values over ${Math.round(maxBytes / 1024)} KiB are not compared field by field`);
  }
  const a = viewOf(from);
  const b = viewOf(to);
  if (typeof a === 'undefined' && typeof b === 'undefined') return undefined;
  if (typeof a === 'string' || typeof b === 'string') return none([...new Set([a, b].filter((s): s is string => typeof s === 'string'))].join('; '));
  if (a === undefined || b === undefined) return none(a === undefined ? 'the old value is not a Kubernetes object' : 'the new value is not a Kubernetes object');

  const whole = a.body !== undefined && b.body !== undefined;
  const sensitive = isSensitiveObject(resource, a.kind, a.labels) || isSensitiveObject(resource, b.kind, b.labels);
  const hidden = SENSITIVE_PATHS.get(a.kind ?? '') ?? SENSITIVE_PATHS.get(b.kind ?? '') ?? [];
  const walker = new Walker(opts.maxChanges ?? 50, opts.maxValueChars ?? 160, !sensitive, hidden);
  try {
    walker.walk(whole ? a.body : a.header, whole ? b.body : b.header, '', 0);
  } catch {
    // Only a value nested beyond what JSON.stringify can hold gets here (a RangeError); it is no object anyone wrote.
    return none('the objects are nested too deeply to compare');
  }
  const result: FieldDiff = { compared: whole ? 'object' : 'metadata', changes: walker.changes, truncated: walker.truncated };
  if (sensitive) result.valuesHidden = 'sensitive';
  if (!whole) {
    result.note =
      a.encoding === b.encoding
        ? 'protobuf values name only apiVersion, kind and metadata without the API schemas; the rest of the object is not compared field by field'
        : `the encoding changed (${a.encoding} to ${b.encoding}): only apiVersion, kind and metadata are compared`;
  } else if (walker.changes.length === 0) {
    result.note =
      a.encoding === 'protobuf' || b.encoding === 'protobuf'
        ? 'the fields read (metadata and data) are equal: the change is in fields not decoded from protobuf, such as managedFields'
        : 'the decoded objects are equal: only their encoding differs (field order, spacing)';
  }
  return result;
}

/** A diff answer with every field value left out (and said so), for an API anyone may read. */
export function withoutFieldValues<T extends { objects: Array<{ fields?: FieldDiff }> }>(diff: T): T {
  return {
    ...diff,
    objects: diff.objects.map((o) =>
      o.fields === undefined
        ? o
        : {
            ...o,
            fields: {
              ...o.fields,
              changes: o.fields.changes.map(({ path, change }) => ({ path, change })),
              valuesHidden: o.fields.valuesHidden ?? 'no-token',
            },
          },
    ),
  };
}

function none(note: string): FieldDiff {
  return { compared: 'none', changes: [], truncated: false, note };
}

/** The decoded value; a string says why it cannot be compared; undefined when it holds no Kubernetes object. */
function viewOf(value: Uint8Array): View | string | undefined {
  const d = decodeValue(value);
  switch (d.encoding) {
    case 'empty':
    case 'other':
      return undefined;
    case 'encrypted':
      return `encrypted at rest (${d.encryption?.provider ?? 'unknown provider'}): the fields cannot be read without the cluster's keys`;
    default:
      break;
  }
  // The decoder's message is left out: JSON.parse quotes the text around the fault, which may be a Secret's.
  if (d.error !== undefined) return `the ${d.encoding} value could not be decoded`;
  const header: Record<string, unknown> = {};
  if (d.apiVersion !== undefined) header['apiVersion'] = d.apiVersion;
  if (d.kind !== undefined) header['kind'] = d.kind;
  if (d.metadata !== undefined) header['metadata'] = d.metadata;
  const view: View = { encoding: d.encoding, header, ...(d.kind !== undefined && { kind: d.kind }), ...(d.metadata?.labels && { labels: d.metadata.labels }) };
  try {
    if (d.encoding === 'json') view.body = record(JSON.parse(Buffer.from(value.buffer, value.byteOffset, value.length).toString('utf8')));
    else if (d.encoding === 'cbor') view.body = record(new CborReader(value, 3).readValue());
    else if (d.encoding === 'protobuf' && d.apiVersion === 'v1' && (d.kind === 'ConfigMap' || d.kind === 'Secret')) {
      view.body = { ...header, ...decodeProtobufData(value, d.kind) };
    }
  } catch {
    return `the ${d.encoding} value could not be decoded`;
  }
  return view;
}

function record(value: unknown): Record<string, unknown> {
  if (!isRecord(value)) throw new Error('value is not an object');
  return value;
}

/** Walks two decoded objects side by side, collecting the paths where they differ. */
class Walker {
  readonly changes: FieldChange[] = [];
  truncated = false;

  constructor(
    private readonly max: number,
    private readonly maxChars: number,
    private readonly withValues: boolean,
    private readonly hidden: readonly string[] = [],
  ) {}

  walk(a: unknown, b: unknown, path: string, depth: number): void {
    if (this.truncated) return;
    const descend = depth < MAX_DEPTH && !OPAQUE_PATHS.has(path);
    if (descend && isRecord(a) && isRecord(b)) {
      for (const key of Object.keys(a)) {
        if (Object.hasOwn(b, key)) this.walk(a[key], b[key], join(path, key), depth + 1);
        else this.add(join(path, key), 'removed', a[key], undefined);
      }
      for (const key of Object.keys(b)) if (!Object.hasOwn(a, key)) this.add(join(path, key), 'added', undefined, b[key]);
      return;
    }
    if (descend && Array.isArray(a) && Array.isArray(b)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) {
        const at = `${path}[${i}]`;
        if (i >= a.length) this.add(at, 'added', undefined, b[i]);
        else if (i >= b.length) this.add(at, 'removed', a[i], undefined);
        else this.walk(a[i], b[i], at, depth + 1);
      }
      return;
    }
    if (!same(a, b)) this.add(path, 'changed', a, b);
  }

  private add(path: string, change: FieldChange['change'], from: unknown, to: unknown): void {
    if (this.truncated) return;
    if (this.changes.length >= this.max) {
      this.truncated = true;
      return;
    }
    const c: FieldChange = { path, change };
    if (this.withValues && !this.hides(path)) {
      if (change !== 'added') c.from = this.text(from);
      if (change !== 'removed') c.to = this.text(to);
    }
    this.changes.push(c);
  }

  /** True when `path` is a hidden field, inside one, or holds one. */
  private hides(path: string): boolean {
    return this.hidden.some((h) => h === path || h.startsWith(`${path}.`) || path.startsWith(`${h}.`) || path.startsWith(`${h}[`));
  }

  private text(value: unknown): string {
    const s = JSON.stringify(value) ?? String(value);
    if (s.length <= this.maxChars) return s;
    // Never cut a surrogate pair in two.
    const end = /[\uD800-\uDBFF]/.test(s[this.maxChars - 1]!) ? this.maxChars - 1 : this.maxChars;
    return `${s.slice(0, end)}…`;
  }
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

function join(path: string, key: string): string {
  if (SIMPLE_KEY.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}
