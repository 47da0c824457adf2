import { ProtoReader, WireType } from './protobuf.js';
import { setEntry } from './text.js';

/** The kinds whose protobuf body (beyond metadata) this reader knows: small, fixed and stable in k8s.io/api core/v1. */
export type DataKind = 'ConfigMap' | 'Secret';

// Field numbers of core/v1 generated.proto: ConfigMap {data = 2, binaryData = 3, immutable = 4};
// Secret {data = 2 (bytes), type = 3, stringData = 4, immutable = 5}.
const SCHEMAS: Record<DataKind, Record<number, { name: string; type: 'stringMap' | 'bytesMap' | 'string' | 'bool' }>> = {
  ConfigMap: { 2: { name: 'data', type: 'stringMap' }, 3: { name: 'binaryData', type: 'bytesMap' }, 4: { name: 'immutable', type: 'bool' } },
  Secret: { 2: { name: 'data', type: 'bytesMap' }, 3: { name: 'type', type: 'string' }, 4: { name: 'stringData', type: 'stringMap' }, 5: { name: 'immutable', type: 'bool' } },
};

/**
 * The body fields of a protobuf-encoded ConfigMap or Secret (`k8s\0` + runtime.Unknown), as the JSON encoding would
 * show them (bytes as base64, empty maps and false left out), so a diff can name `data.<key>` for the objects most
 * often compared. Metadata is not read here (see decodeValue). Throws on malformed input.
 */
export function decodeProtobufData(value: Uint8Array, kind: DataKind): Record<string, unknown> {
  const unknown = new ProtoReader(value, 4);
  let raw: ProtoReader | undefined;
  // `etcdctl get` output (and files saved from it) ends values with a newline, which no field can start with.
  while (!(unknown.pos === unknown.end - 1 && value[unknown.pos] === 0x0a) && unknown.next()) {
    if (unknown.field === 2) {
      unknown.expect(WireType.LengthDelimited, 'runtime.Unknown.raw');
      raw = unknown.readMessage();
    } else if (unknown.field === 3) {
      unknown.expect(WireType.LengthDelimited, 'runtime.Unknown.contentEncoding');
      const encoding = unknown.readString();
      if (encoding !== '') throw new Error(`raw object uses content encoding "${encoding}"`);
    } else {
      unknown.skip();
    }
  }
  if (raw === undefined) throw new Error('runtime.Unknown has no raw object');
  const schema = SCHEMAS[kind];
  const out: Record<string, unknown> = {};
  while (raw.next()) {
    const field = schema[raw.field];
    if (field === undefined) {
      raw.skip();
      continue;
    }
    if (field.type === 'bool') {
      raw.expect(WireType.Varint, `${kind}.${field.name}`);
      if (raw.readBool()) out[field.name] = true;
      continue;
    }
    raw.expect(WireType.LengthDelimited, `${kind}.${field.name}`);
    if (field.type === 'string') {
      const text = raw.readString();
      if (text !== '') out[field.name] = text;
      continue;
    }
    const map = (out[field.name] ??= {}) as Record<string, string>;
    readEntry(raw.readMessage(), map, field.type === 'bytesMap');
  }
  return out;
}

// Protobuf maps are repeated {key = 1, value = 2} entries; a missing key or value is empty.
function readEntry(reader: ProtoReader, into: Record<string, string>, bytes: boolean): void {
  let key = '';
  let value = '';
  while (reader.next()) {
    if (reader.field === 1 || reader.field === 2) {
      reader.expect(WireType.LengthDelimited, reader.field === 1 ? 'map key' : 'map value');
      if (reader.field === 1) key = reader.readString();
      else value = bytes ? Buffer.from(reader.readBytes()).toString('base64') : reader.readString();
    } else {
      reader.skip();
    }
  }
  setEntry(into, key, value);
}
