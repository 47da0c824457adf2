import { decodeValue, type ValueEncoding } from './envelope.js';
import { parseKey } from './key-layout.js';
import { resourceLabel } from './resource-label.js';
import { keyFields, printable, printedKey } from '../core/printable.js';

/** One line of the `render` audit listing: what an object is, as far as it can be told without the cluster's keys. */
export interface AuditRow {
  /** The key as text; when it is not valid UTF-8, its printed form (`\xNN` escapes) and `keyBase64` the exact bytes. */
  key: string;
  keyBase64?: string;
  resource: string;
  kind?: string;
  apiVersion?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  labels?: Record<string, string>;
  creationTimestamp?: string;
  /** Value size in bytes. */
  size: number;
  encoding: ValueEncoding;
  /** `<provider>/<key name>` of a value encrypted at rest. */
  encryption?: string;
  modRevision?: number;
  /** Why the value could not be decoded fully. */
  error?: string;
}

/** The audit row of one key and value; never throws on odd data. */
export function auditRow(key: Buffer, value: Buffer, prefixes: readonly string[], modRevision?: number): AuditRow {
  const parsed = parseKey(key, prefixes);
  const decoded = decodeValue(value, { annotations: 'keys' });
  const meta = decoded.metadata;
  const namespace = meta?.namespace ?? parsed.namespace;
  const name = meta?.name ?? parsed.name;
  return {
    ...keyFields(key),
    resource: resourceLabel(parsed),
    ...(decoded.kind !== undefined && { kind: decoded.kind }),
    ...(decoded.apiVersion !== undefined && { apiVersion: decoded.apiVersion }),
    ...(namespace !== undefined && { namespace }),
    ...(name !== undefined && { name }),
    ...(meta?.uid !== undefined && { uid: meta.uid }),
    ...(meta?.labels !== undefined && { labels: meta.labels }),
    ...(meta?.creationTimestamp !== undefined && { creationTimestamp: meta.creationTimestamp }),
    size: value.length,
    encoding: decoded.encoding,
    ...(decoded.encryption !== undefined && { encryption: `${decoded.encryption.provider}/${decoded.encryption.keyName}` }),
    ...(modRevision !== undefined && { modRevision }),
    ...(decoded.error !== undefined && { error: decoded.error }),
  };
}

/** Column names of `auditRowText`. */
export const AUDIT_COLUMNS = ['KEY', 'KIND', 'APIVERSION', 'NAMESPACE', 'NAME', 'UID', 'CREATED', 'SIZE', 'ENCODING', 'LABELS'];

/** A row as one tab-separated line (labels as k=v,k=v); `-` for what is unknown; the key in its printed form. */
export function auditRowText(row: AuditRow): string {
  const labels = row.labels ? Object.entries(row.labels).map(([k, v]) => `${k}=${v}`).join(',') : '';
  const enc = row.encryption ? `${row.encoding}(${row.encryption})` : row.encoding;
  const rest = [row.kind, row.apiVersion, row.namespace, row.name, row.uid, row.creationTimestamp, String(row.size), enc, labels];
  return [printedKey(row), ...rest.map((c) => (c === undefined || c === '' ? '-' : printable(c)))].join('\t');
}
