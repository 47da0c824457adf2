import { setAnnotations, type AnnotationMode, type ObjectMeta, type OwnerReference } from './object-meta.js';
import { ProtoReader, WireType } from './protobuf.js';
import { setEntry } from './text.js';

/** The header of a stored object: filled in as decoding proceeds, so a failure late in the bytes keeps what came before. */
export interface ObjectHeader {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

// JS dates end at +-8.64e15 ms; Kubernetes never writes anything near that, so beyond it the bytes are corrupt.
const MAX_SECONDS = 8.64e12;

/**
 * Decodes the runtime.Unknown that follows the `k8s\0` magic: typeMeta (1) and the ObjectMeta at field 1 of raw (2).
 * Only the header is read; the object's spec and status are skipped by length, never parsed. Throws on malformed input.
 */
export function decodeProtobufObject(bytes: Uint8Array, start: number, into: ObjectHeader, mode: AnnotationMode): void {
  const unknown = new ProtoReader(bytes, start);
  let raw: ProtoReader | undefined;
  let contentEncoding = '';
  while (!isTrailingNewline(unknown) && unknown.next()) {
    switch (unknown.field) {
      case 1:
        unknown.expect(WireType.LengthDelimited, 'runtime.Unknown.typeMeta');
        readTypeMeta(unknown.readMessage(), into);
        break;
      case 2:
        unknown.expect(WireType.LengthDelimited, 'runtime.Unknown.raw');
        raw = unknown.readMessage();
        break;
      case 3:
        unknown.expect(WireType.LengthDelimited, 'runtime.Unknown.contentEncoding');
        contentEncoding = unknown.readString();
        break;
      default:
        unknown.skip();
    }
  }
  // A compressed raw would read as garbage; say so instead of reporting nonsense metadata.
  if (contentEncoding !== '') throw new Error(`raw object uses content encoding "${contentEncoding}"`);
  if (raw === undefined) throw new Error('runtime.Unknown has no raw object');
  while (raw.next()) {
    if (raw.field !== 1) {
      raw.skip();
      continue;
    }
    raw.expect(WireType.LengthDelimited, 'metadata');
    into.metadata = readObjectMeta(raw.readMessage(), mode);
    return;
  }
}

// `etcdctl get` output, and files saved from it (auger's test data among them), end values with a newline. A lone 0x0a
// where a field should start can never be valid (a length-delimited tag with no length), so ignoring it hides nothing.
function isTrailingNewline(reader: ProtoReader): boolean {
  return reader.pos === reader.end - 1 && reader.buf[reader.pos] === 0x0a;
}

function readTypeMeta(reader: ProtoReader, into: ObjectHeader): void {
  while (reader.next()) {
    if (reader.field === 1 || reader.field === 2) {
      reader.expect(WireType.LengthDelimited, reader.field === 1 ? 'typeMeta.apiVersion' : 'typeMeta.kind');
      const text = reader.readString();
      if (text === '') continue;
      if (reader.field === 1) into.apiVersion = text;
      else into.kind = text;
    } else {
      reader.skip();
    }
  }
}

function readObjectMeta(reader: ProtoReader, mode: AnnotationMode): ObjectMeta {
  const meta: ObjectMeta = {};
  let labels: Record<string, string> | undefined;
  let annotations: Record<string, string> | undefined;
  while (reader.next()) {
    switch (reader.field) {
      case 1:
      case 2:
      case 3:
      case 5: {
        const field = STRING_FIELDS[reader.field]!;
        reader.expect(WireType.LengthDelimited, `metadata.${field}`);
        const text = reader.readString();
        if (text !== '') meta[field] = text;
        break;
      }
      case 7: {
        reader.expect(WireType.Varint, 'metadata.generation');
        const generation = reader.readInt64();
        if (generation !== 0) meta.generation = generation;
        break;
      }
      case 8:
      case 9: {
        const field = reader.field === 8 ? 'creationTimestamp' : 'deletionTimestamp';
        reader.expect(WireType.LengthDelimited, `metadata.${field}`);
        const time = readTime(reader.readMessage(), field);
        if (time !== undefined) meta[field] = time;
        break;
      }
      case 11:
        reader.expect(WireType.LengthDelimited, 'metadata.labels');
        labels ??= {};
        readMapEntry(reader.readMessage(), labels);
        break;
      case 12:
        reader.expect(WireType.LengthDelimited, 'metadata.annotations');
        annotations ??= {};
        // In keys mode the values are never decoded: last-applied-configuration alone can be tens of kilobytes.
        readMapEntry(reader.readMessage(), annotations, mode === 'full');
        break;
      case 13:
        reader.expect(WireType.LengthDelimited, 'metadata.ownerReferences');
        (meta.ownerReferences ??= []).push(readOwnerReference(reader.readMessage()));
        break;
      case 14:
        reader.expect(WireType.LengthDelimited, 'metadata.finalizers');
        (meta.finalizers ??= []).push(reader.readString());
        break;
      default:
        // selfLink, resourceVersion (always empty in etcd), managedFields and the retired fields 15 and 16.
        reader.skip();
    }
  }
  if (labels) meta.labels = labels;
  if (annotations) setAnnotations(meta, annotations, mode);
  return meta;
}

const STRING_FIELDS: Record<number, 'name' | 'generateName' | 'namespace' | 'uid'> = {
  1: 'name',
  2: 'generateName',
  3: 'namespace',
  5: 'uid',
};

// metav1.Time ignores nanos on read and an empty message is the zero time, which JSON writes as null.
function readTime(reader: ProtoReader, field: string): string | undefined {
  if (reader.pos === reader.end) return undefined;
  let seconds = 0;
  while (reader.next()) {
    if (reader.field === 1) {
      reader.expect(WireType.Varint, `${field}.seconds`);
      seconds = reader.readInt64();
    } else {
      reader.skip();
    }
  }
  if (Math.abs(seconds) > MAX_SECONDS) throw new Error(`${field} of ${seconds} seconds is out of range`);
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

// Protobuf maps are repeated {key = 1, value = 2} entries; a missing key or value is the empty string.
function readMapEntry(reader: ProtoReader, into: Record<string, string>, keepValue = true): void {
  let key = '';
  let value = '';
  while (reader.next()) {
    if (reader.field === 2 && !keepValue) {
      reader.skip();
    } else if (reader.field === 1 || reader.field === 2) {
      reader.expect(WireType.LengthDelimited, reader.field === 1 ? 'map key' : 'map value');
      if (reader.field === 1) key = reader.readString();
      else value = reader.readString();
    } else {
      reader.skip();
    }
  }
  setEntry(into, key, value);
}

function readOwnerReference(reader: ProtoReader): OwnerReference {
  const ref: OwnerReference = { apiVersion: '', kind: '', name: '', uid: '' };
  while (reader.next()) {
    const field = OWNER_STRING_FIELDS[reader.field];
    if (field !== undefined) {
      reader.expect(WireType.LengthDelimited, `ownerReference.${field}`);
      ref[field] = reader.readString();
    } else if (reader.field === 6 || reader.field === 7) {
      const flag = reader.field === 6 ? 'controller' : 'blockOwnerDeletion';
      reader.expect(WireType.Varint, `ownerReference.${flag}`);
      ref[flag] = reader.readBool();
    } else {
      reader.skip();
    }
  }
  return ref;
}

const OWNER_STRING_FIELDS: Record<number, 'kind' | 'name' | 'uid' | 'apiVersion' | undefined> = {
  1: 'kind',
  3: 'name',
  4: 'uid',
  5: 'apiVersion',
};
