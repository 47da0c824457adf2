export {
  DEFAULT_PREFIXES,
  parseKey,
  resourceMatches,
  detectDistribution,
  type ParsedKey,
  type ObjectKey,
  type NonObjectKey,
  type UnrecognisedKey,
  type PlainKey,
} from './key-layout.js';
export {
  STORAGE_PATH_RESOURCES,
  NON_OBJECT_RESOURCES,
  CLUSTER_SCOPED_RESOURCES,
  COMPACT_REV_KEY,
  isClusterScoped,
} from './resource-prefixes.js';
export { decodeValue, valueEncoding, type DecodedValue, type DecodeOptions, type ValueEncoding } from './envelope.js';
export type { ObjectMeta, OwnerReference, AnnotationMode } from './object-meta.js';
export type { EncryptionInfo, EncryptionProvider } from './encryption.js';
export { ProtoReader, WireType } from './protobuf.js';
export { CborReader } from './cbor.js';
