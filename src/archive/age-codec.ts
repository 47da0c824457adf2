import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { Decrypter, Encrypter, identityToRecipient } from 'age-encryption';
import { IntegrityError, describeError } from '../core/errors.js';
import { scryptIdentity, scryptRecipient } from './age-scrypt.js';
import { recipientsText } from './encrypted-to.js';
import type { EncryptedTo } from './manifest.js';
import { PAYLOAD_NONCE, StreamOpener, StreamSealer, payloadKey } from './age-stream.js';

const MAGIC = Buffer.from('age-encryption.org/v1\n');
/** The longest header we read: hundreds of recipients fit; a file without a header end must not grow memory. */
const MAX_HEADER = 256 * 1024;

/** Whom an artifact is encrypted to: age X25519 recipients (`age1...`), or one passphrase. */
export type AgeTarget = { recipients: string[] } | { passphrase: string };
/** What may decrypt an artifact: age X25519 identities (`AGE-SECRET-KEY-1...`) and/or passphrases. */
export interface AgeKeys {
  identities: string[];
  passphrases: string[];
  /** Where they came from, for the message when none fits (`tried RS_ENCRYPTION_IDENTITY_FILE=/keys/age.txt (...)`). */
  sources?: () => Promise<string>;
}

/** The public keys (`age1...`) of X25519 identities: what a backup job's RS_ENCRYPTION_RECIPIENTS must hold. */
export async function recipientsOf(identities: readonly string[]): Promise<string[]> {
  return Promise.all(identities.map((i) => identityToRecipient(i)));
}

/**
 * Makes an age header (recipient stanzas and MAC) for a fresh file key, with `age-encryption`, and returns both.
 * The file key is observed through a recipient that adds no stanza: the header is exactly what age writes.
 */
async function newHeader(target: AgeTarget): Promise<{ header: Buffer; fileKey: Uint8Array }> {
  let fileKey: Uint8Array | undefined;
  const e = new Encrypter();
  e.addRecipient({
    wrapFileKey(key: Uint8Array) {
      fileKey = key.slice();
      return [];
    },
  });
  if ('passphrase' in target) e.addRecipient(scryptRecipient(target.passphrase));
  else for (const r of target.recipients) e.addRecipient(r);
  const sample = Buffer.from(await e.encrypt(new Uint8Array(0)));
  const end = headerEnd(sample);
  if (end < 0 || fileKey === undefined) throw new Error('age-encryption produced no header');
  return { header: sample.subarray(0, end), fileKey };
}

/** Index just past the header's MAC line (`--- <mac>\n`), or -1 if `buf` does not hold it (yet). */
function headerEnd(buf: Buffer): number {
  const mac = buf.indexOf('\n--- ');
  if (mac < 0) return -1;
  const nl = buf.indexOf(0x0a, mac + 1);
  return nl < 0 ? -1 : nl + 1;
}

/** A stream transform that encrypts to `target` in the age format (`age -d` reads it). */
export function ageEncryptor(target: AgeTarget): () => Transform {
  return () => new AgeEncrypt(target);
}

/**
 * A stream transform that decrypts an age file with `keys`; failures are IntegrityErrors of check `decrypt`. Given
 * whom the file was encrypted to (its manifest's `encryptedTo`), a failure for want of a key names them.
 */
export function ageDecryptor(keys: AgeKeys): (encryptedTo?: EncryptedTo, opts?: { file?: boolean }) => Transform {
  return (encryptedTo, opts) => new AgeDecrypt(keys, encryptedTo, opts?.file === true);
}

class AgeEncrypt extends Transform {
  private sealer?: StreamSealer;

  constructor(private readonly target: AgeTarget) {
    super({ readableHighWaterMark: 1024 * 1024 });
  }

  private async start(): Promise<StreamSealer> {
    if (this.sealer) return this.sealer;
    const { header, fileKey } = await newHeader(this.target);
    const nonce = randomBytes(PAYLOAD_NONCE);
    this.sealer = new StreamSealer(payloadKey(fileKey, nonce));
    this.push(Buffer.concat([header, nonce]));
    return this.sealer;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.start().then(
      (s) => {
        for (const out of s.push(chunk)) this.push(out);
        cb();
      },
      (err: unknown) => cb(err as Error),
    );
  }

  override _flush(cb: TransformCallback): void {
    this.start().then(
      (s) => cb(null, s.finish()),
      (err: unknown) => cb(err as Error),
    );
  }
}

class AgeDecrypt extends Transform {
  private head: Buffer[] = [];
  private headBytes = 0;
  private opener?: StreamOpener;

  constructor(
    private readonly keys: AgeKeys,
    private readonly encryptedTo: EncryptedTo | undefined,
    /** A file on this machine: no manifest says to whom it was encrypted. */
    private readonly file = false,
  ) {
    super({ readableHighWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.opener) {
      this.open(() => this.opener!.push(chunk), cb);
      return;
    }
    this.head.push(chunk);
    this.headBytes += chunk.length;
    const buf = Buffer.concat(this.head, this.headBytes);
    this.head = [buf];
    const prefix = Math.min(buf.length, MAGIC.length);
    if (!buf.subarray(0, prefix).equals(MAGIC.subarray(0, prefix))) {
      cb(new IntegrityError('decrypt', 'the artifact is not an age file (it does not start with "age-encryption.org/v1")'));
      return;
    }
    const end = headerEnd(buf);
    if (end < 0 || buf.length < end + PAYLOAD_NONCE) {
      if (buf.length > MAX_HEADER) cb(new IntegrityError('decrypt', `the age header is longer than ${MAX_HEADER} bytes (corrupted)`));
      else cb();
      return;
    }
    this.unlock(buf.subarray(0, end)).then(
      (fileKey) => {
        this.opener = new StreamOpener(payloadKey(fileKey, buf.subarray(end, end + PAYLOAD_NONCE)));
        this.head = [];
        this.open(() => this.opener!.push(buf.subarray(end + PAYLOAD_NONCE)), cb);
      },
      (err: unknown) => cb(err as Error),
    );
  }

  override _flush(cb: TransformCallback): void {
    if (!this.opener) {
      cb(new IntegrityError('decrypt', `the age file ends inside its header (${this.headBytes} bytes: truncated)`));
      return;
    }
    this.open(() => [this.opener!.finish()], cb);
  }

  private open(step: () => Buffer[], cb: TransformCallback): void {
    let out: Buffer[];
    try {
      out = step();
    } catch (err) {
      cb(err as Error);
      return;
    }
    for (const b of out) this.push(b);
    cb();
  }

  /**
   * Why no configured key opened the header, from its stanzas: a passphrase backup read with age keys only (or the
   * other way round) says which variable it needs, rather than that it was encrypted to someone else.
   */
  private whyNoKey(header: Buffer): string {
    const text = header.toString('latin1');
    const byPassphrase = /^-> scrypt /m.test(text);
    if (byPassphrase && this.keys.passphrases.length === 0) return 'it was encrypted with a passphrase, not to an age key: set RS_ENCRYPTION_PASSPHRASE to the one the backup job had';
    if (byPassphrase) return 'it was encrypted with another passphrase than RS_ENCRYPTION_PASSPHRASE';
    const to = this.encryptedTo !== undefined && 'recipients' in this.encryptedTo ? recipientsText(this.encryptedTo.recipients) : undefined;
    if (this.keys.identities.length === 0) {
      const named = to === undefined ? "a key the backup job's RS_ENCRYPTION_RECIPIENTS named" : 'one of them';
      return `it was encrypted to age keys${to === undefined ? '' : ` (${to})`}, not with a passphrase: set RS_ENCRYPTION_IDENTITY_FILE to the identity of ${named}`;
    }
    // Recorded since manifests name it; an older manifest does not say to whom.
    if (to === undefined && this.file) {
      return 'it was encrypted to another age key: a file does not record to whom (the manifest of the backup it came from does, as "encryptedTo")';
    }
    if (to === undefined) return `it was encrypted to someone else${this.encryptedTo === undefined ? ' (its manifest does not record to whom: an older backup)' : ''}`;
    return `it was encrypted to ${to}: set RS_ENCRYPTION_IDENTITY_FILE to the identity of one of them (age-keygen -y KEYFILE prints a key file's public key)`;
  }

  /** Checks the header's MAC and unwraps the file key with the configured identities or passphrases. */
  private async unlock(header: Buffer): Promise<Uint8Array> {
    const d = new Decrypter();
    for (const id of this.keys.identities) d.addIdentity(id);
    for (const p of this.keys.passphrases) d.addIdentity(scryptIdentity(p));
    try {
      return await d.decryptHeader(header);
    } catch (err) {
      const why = describeError(err);
      if (/no identity matched/.test(why)) {
        const tried = (await this.keys.sources?.()) ?? 'RS_ENCRYPTION_IDENTITY_FILE, RS_ENCRYPTION_IDENTITY or RS_ENCRYPTION_PASSPHRASE';
        throw new IntegrityError('decrypt', `none of the configured keys can decrypt this ${this.file ? 'file' : 'backup'} (${tried}): ${this.whyNoKey(header)}`);
      }
      if (/HMAC/.test(why)) throw new IntegrityError('decrypt', "the age header's MAC does not match (the header is corrupted)");
      throw new IntegrityError('decrypt', `the age header is malformed (${why})`);
    }
  }
}
