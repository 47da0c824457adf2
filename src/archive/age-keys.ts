import { decodeBech32 } from './bech32.js';

/**
 * More recipients than an age header we read can hold (256 KiB, ~100 bytes a stanza): no artifact has them. A
 * manifest naming more is refused, and so is RS_ENCRYPTION_RECIPIENTS with more (its backups could not be read back).
 */
export const MAX_RECIPIENTS = 4096;

const RECIPIENT_RE = /^age1[02-9ac-hj-np-z]{58}$/;
const IDENTITY_RE = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;

/** True for a well-formed age X25519 public key (`age1...`, bech32 checksum included). */
export function isAgeRecipient(s: string): boolean {
  // What age's X25519Recipient accepts: a bech32 string with prefix "age" holding 32 bytes.
  return RECIPIENT_RE.test(s) && decodeBech32(s)?.bytes.length === 32;
}

/** True for a well-formed age X25519 secret key (`AGE-SECRET-KEY-1...`, bech32 checksum included). */
export function isAgeIdentity(s: string): boolean {
  // What age's X25519Identity accepts: a bech32 string with prefix "AGE-SECRET-KEY-" holding 32 bytes.
  return IDENTITY_RE.test(s) && decodeBech32(s)?.bytes.length === 32;
}

/**
 * Parses an age identity file as `age-keygen` writes it: one `AGE-SECRET-KEY-1...` per line, `#` comments and
 * blank lines ignored. Throws an Error naming the line of a bad entry (never its content: it may be a key).
 */
export function parseIdentityFile(text: string): string[] {
  const identities: string[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!isAgeIdentity(line)) {
      const what = line.startsWith('AGE-PLUGIN-') || line.startsWith('AGE-SECRET-KEY-PQ-') ? 'an age identity type reshifter does not support' : 'not an age secret key (AGE-SECRET-KEY-1...)';
      throw new Error(`line ${i + 1} is ${what}`);
    }
    identities.push(line);
  }
  if (identities.length === 0) throw new Error('holds no age secret key (AGE-SECRET-KEY-1...)');
  return identities;
}
