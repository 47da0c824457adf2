import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { Stanza, type Identity, type Recipient } from 'age-encryption';

const LABEL = 'age-encryption.org/v1/scrypt';
/** age's default work factor (2^18: 256 MiB and a fraction of a second). */
export const SCRYPT_LOG_N = 18;
/** The highest work factor we accept when reading: 2^20 needs 1 GiB; a crafted header must not ask for more. */
export const MAX_SCRYPT_LOG_N = 20;

/** scrypt with age's parameters, on libuv's thread pool rather than the event loop. */
function deriveKey(passphrase: string, salt: Buffer, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) => {
    scrypt(passphrase, Buffer.concat([Buffer.from(LABEL), salt]), 32, { N, r: 8, p: 1, maxmem: 129 * N * 8 + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

const ZERO_NONCE = Buffer.alloc(12);
const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

/**
 * age's scrypt (passphrase) recipient, with node:crypto's scrypt: `age-encryption`'s pure-JS one would block the
 * event loop for seconds at the default work factor.
 */
export function scryptRecipient(passphrase: string, logN = SCRYPT_LOG_N): Recipient {
  return {
    async wrapFileKey(fileKey: Uint8Array): Promise<Stanza[]> {
      const salt = randomBytes(16);
      const key = await deriveKey(passphrase, salt, logN);
      const c = createCipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: 16 });
      const body = Buffer.concat([c.update(fileKey), c.final(), c.getAuthTag()]);
      return [new Stanza(['scrypt', b64(salt), String(logN)], body)];
    },
  };
}

/** age's scrypt identity: unwraps the file key of a passphrase-encrypted file, or returns null for a wrong passphrase. */
export function scryptIdentity(passphrase: string): Identity {
  return {
    async unwrapFileKey(stanzas: Stanza[]): Promise<Uint8Array | null> {
      const s = stanzas.find((st) => st.args[0] === 'scrypt');
      if (s === undefined) return null;
      if (stanzas.length !== 1) throw new Error('the scrypt stanza is not the only one in the header');
      const [, saltB64 = '', logNText = ''] = s.args;
      const salt = Buffer.from(saltB64, 'base64');
      if (s.args.length !== 3 || salt.length !== 16 || b64(salt) !== saltB64 || !/^[1-9][0-9]?$/.test(logNText) || s.body.length !== 32) {
        throw new Error('invalid scrypt stanza');
      }
      const logN = Number(logNText);
      if (logN > MAX_SCRYPT_LOG_N) throw new Error(`the scrypt work factor 2^${logN} is higher than the 2^${MAX_SCRYPT_LOG_N} we accept`);
      const key = await deriveKey(passphrase, salt, logN);
      const body = Buffer.from(s.body);
      const d = createDecipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: 16 });
      d.setAuthTag(body.subarray(16));
      const fileKey = d.update(body.subarray(0, 16));
      try {
        d.final();
      } catch {
        return null;
      }
      return fileKey;
    },
  };
}
