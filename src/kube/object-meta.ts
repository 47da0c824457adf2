import { setEntry } from './text.js';

/** An owner of an object (metav1.OwnerReference), as far as backup tooling needs it. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/**
 * The parts of metav1.ObjectMeta worth reporting. Fields follow Kubernetes' JSON rules so the protobuf, JSON and CBOR
 * decodings of one object compare equal: empty strings, zero generation and zero times are left out, and times are
 * RFC 3339 with whole seconds (Kubernetes drops sub-second precision on every read).
 */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  /** Present unless the caller asked for keys only (see `DecodeOptions.annotations`). */
  annotations?: Record<string, string>;
  /** Present instead of `annotations` when the caller asked for keys only. */
  annotationKeys?: string[];
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

/** How annotations are reported: `full` keeps values; `keys` drops them (they can be large, or hold secrets). */
export type AnnotationMode = 'full' | 'keys';

/** Stores annotations in `meta` in the requested form; an empty map is left out like every other empty field. */
export function setAnnotations(meta: ObjectMeta, annotations: Record<string, string>, mode: AnnotationMode): void {
  const keys = Object.keys(annotations);
  if (keys.length === 0) return;
  if (mode === 'keys') meta.annotationKeys = keys;
  else meta.annotations = annotations;
}

/** Picks ObjectMeta out of an already parsed JSON or CBOR value, ignoring anything of the wrong type. */
export function objectMetaFromPlain(value: unknown, mode: AnnotationMode): ObjectMeta | undefined {
  if (!isRecord(value)) return undefined;
  const meta: ObjectMeta = {};
  for (const field of ['name', 'generateName', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp'] as const) {
    const text = value[field];
    if (typeof text === 'string' && text !== '') meta[field] = text;
  }
  const generation = value['generation'];
  if (typeof generation === 'number' && Number.isFinite(generation) && generation !== 0) meta.generation = generation;
  const labels = stringMap(value['labels']);
  if (labels) meta.labels = labels;
  const annotations = stringMap(value['annotations']);
  if (annotations) setAnnotations(meta, annotations, mode);
  const owners = value['ownerReferences'];
  if (Array.isArray(owners)) {
    const refs = owners.filter(isRecord).map(ownerFromPlain);
    if (refs.length > 0) meta.ownerReferences = refs;
  }
  const finalizers = value['finalizers'];
  if (Array.isArray(finalizers)) {
    const names = finalizers.filter((f): f is string => typeof f === 'string');
    if (names.length > 0) meta.finalizers = names;
  }
  return meta;
}

function ownerFromPlain(value: Record<string, unknown>): OwnerReference {
  const ref: OwnerReference = {
    apiVersion: stringOr(value['apiVersion']),
    kind: stringOr(value['kind']),
    name: stringOr(value['name']),
    uid: stringOr(value['uid']),
  };
  if (typeof value['controller'] === 'boolean') ref.controller = value['controller'];
  if (typeof value['blockOwnerDeletion'] === 'boolean') ref.blockOwnerDeletion = value['blockOwnerDeletion'];
  return ref;
}

function stringMap(value: unknown): Record<string, string> | undefined {
  if (!isRecord(value)) return undefined;
  const out: Record<string, string> = {};
  let any = false;
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') continue;
    setEntry(out, key, entry);
    any = true;
  }
  return any ? out : undefined;
}

function stringOr(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** True for a non-null, non-array object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
