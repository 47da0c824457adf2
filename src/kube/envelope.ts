import { CborReader } from './cbor.js';
import { ENCRYPTED_MAGIC, parseEncryptionPrefix, type EncryptionInfo } from './encryption.js';
import { objectMetaFromPlain, isRecord, type AnnotationMode, type ObjectMeta } from './object-meta.js';
import { decodeProtobufObject } from './protobuf-object.js';
import { utf8 } from './text.js';

/** How a value in etcd is encoded. */
export type ValueEncoding = 'protobuf' | 'json' | 'cbor' | 'encrypted' | 'empty' | 'other';

/** What could be learned from one etcd value without the cluster's keys and without parsing the whole object. */
export interface DecodedValue {
  encoding: ValueEncoding;
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  encryption?: EncryptionInfo;
  /** Why the value could not be (fully) decoded; fields decoded before the failure are kept. */
  error?: string;
}

/** Options for `decodeValue`. */
export interface DecodeOptions {
  /** `full` (default) reports annotation values; `keys` reports `metadata.annotationKeys` only. */
  annotations?: AnnotationMode;
}

const PROTOBUF_MAGIC = [0x6b, 0x38, 0x73, 0x00]; // "k8s\0"
const CBOR_SELF_DESCRIBED = [0xd9, 0xd9, 0xf7]; // tag 55799

/**
 * Recognises the encoding of an etcd value and decodes apiVersion, kind and metadata when it holds a Kubernetes object.
 * Never throws: anything malformed comes back as `error`, with the encoding that was detected.
 */
export function decodeValue(value: Uint8Array, options: DecodeOptions = {}): DecodedValue {
  try {
    return detectAndDecode(value, options.annotations ?? 'full');
  } catch (err) {
    // Each decoder is guarded already; this only catches what nobody foresaw, such as input that is not bytes.
    return { encoding: 'other', error: `unexpected failure: ${message(err)}` };
  }
}

/**
 * The encoding `decodeValue` reports for `value`, from its first bytes alone: what `stats` counts per key, where
 * decoding a value (a JSON.parse of a 1 MB Helm release Secret, its string and its object tree) costs heap and CPU for
 * nothing.
 */
export function valueEncoding(value: Uint8Array): ValueEncoding {
  if (value.length === 0) return 'empty';
  if (startsWith(value, PROTOBUF_MAGIC)) return 'protobuf';
  if (startsWith(value, ENCRYPTED_MAGIC)) return 'encrypted';
  if (startsWith(value, CBOR_SELF_DESCRIBED)) return 'cbor';
  if (firstNonSpace(value) === 0x7b /* { */) return 'json';
  return 'other';
}

function detectAndDecode(value: Uint8Array, mode: AnnotationMode): DecodedValue {
  switch (valueEncoding(value)) {
    case 'empty':
      return { encoding: 'empty' };
    case 'protobuf':
      return guarded({ encoding: 'protobuf' }, (result) => decodeProtobufObject(value, PROTOBUF_MAGIC.length, result, mode));
    case 'encrypted':
      return { encoding: 'encrypted', ...parseEncryptionPrefix(value) };
    case 'cbor':
      return guarded({ encoding: 'cbor' }, (result) => decodeCborObject(value, result, mode));
    case 'json':
      return guarded({ encoding: 'json' }, (result) => decodeJsonObject(value, result, mode));
    default:
      return { encoding: 'other' };
  }
}

function guarded(result: DecodedValue, decode: (result: DecodedValue) => void): DecodedValue {
  try {
    decode(result);
  } catch (err) {
    result.error = message(err);
  }
  return result;
}

function decodeJsonObject(value: Uint8Array, into: DecodedValue, mode: AnnotationMode): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8(value));
  } catch (err) {
    throw new Error(`invalid JSON: ${message(err)}`);
  }
  assignHeader(parsed, into, mode);
}

// Only apiVersion, kind and metadata are built as JS values; everything else in the map is skipped by length.
function decodeCborObject(value: Uint8Array, into: DecodedValue, mode: AnnotationMode): void {
  const reader = new CborReader(value, CBOR_SELF_DESCRIBED.length);
  const entries = reader.readMapHeader();
  const header: Record<string, unknown> = {};
  for (let i = 0; i < entries; i++) {
    const key = reader.readKey();
    if (key === 'apiVersion' || key === 'kind' || key === 'metadata') header[key] = reader.readValue();
    else reader.skip();
  }
  assignHeader(header, into, mode);
}

function assignHeader(parsed: unknown, into: DecodedValue, mode: AnnotationMode): void {
  if (!isRecord(parsed)) throw new Error('value is not an object');
  const { apiVersion, kind } = parsed;
  if (typeof apiVersion === 'string' && apiVersion !== '') into.apiVersion = apiVersion;
  if (typeof kind === 'string' && kind !== '') into.kind = kind;
  const metadata = objectMetaFromPlain(parsed['metadata'], mode);
  if (metadata) into.metadata = metadata;
}

function startsWith(value: Uint8Array, magic: ArrayLike<number>): boolean {
  if (value.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (value[i] !== magic[i]) return false;
  return true;
}

// JSON allows only these four whitespace bytes before the first token.
function firstNonSpace(value: Uint8Array): number | undefined {
  for (const b of value) if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return b;
  return undefined;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
