import { utf8 } from './text.js';

/** Providers of Kubernetes encryption at rest; other names are passed through as written. */
export type EncryptionProvider = 'aescbc' | 'aesgcm' | 'secretbox' | 'kms' | (string & {});

/** What the `k8s:enc:<provider>:<version>:<keyName>:` prefix of an encrypted value says. */
export interface EncryptionInfo {
  provider: EncryptionProvider;
  /** `v1`, or `v2` for KMS v2. */
  version: string;
  /** The key name for aescbc/aesgcm/secretbox; the KMS plugin name for kms. */
  keyName: string;
}

/** The bytes of `k8s:enc:`, which every encrypted value starts with. */
export const ENCRYPTED_MAGIC = new Uint8Array([0x6b, 0x38, 0x73, 0x3a, 0x65, 0x6e, 0x63, 0x3a]);

// Names in an EncryptionConfiguration are short; a colon this far in means the bytes are not a prefix at all, and
// the cap keeps a hostile value from making us scan megabytes.
const MAX_PREFIX_BYTES = 1024;
const COLON = 0x3a;

/**
 * Parses the three colon-terminated fields after `k8s:enc:` (the caller has checked the magic).
 * Returns what it could read and an error when a field is missing; the payload after the prefix is never touched.
 */
export function parseEncryptionPrefix(value: Uint8Array): { encryption: EncryptionInfo; error?: string } {
  const fields: string[] = [];
  let start = ENCRYPTED_MAGIC.length;
  const limit = Math.min(value.length, start + MAX_PREFIX_BYTES);
  for (let i = start; i < limit && fields.length < 3; i++) {
    if (value[i] !== COLON) continue;
    fields.push(utf8(value, start, i));
    start = i + 1;
  }
  const [provider = '', version = '', keyName = ''] = fields;
  const encryption: EncryptionInfo = { provider, version, keyName };
  if (fields.length < 3) {
    return { encryption, error: `encrypted value has a malformed prefix: expected k8s:enc:<provider>:<version>:<name>:` };
  }
  return { encryption };
}
