import { Decrypter, Encrypter } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { ageDecryptor, ageEncryptor } from '../../../src/archive/age-codec.js';
import { scryptRecipient } from '../../../src/archive/age-scrypt.js';
import { IntegrityError } from '../../../src/core/errors.js';
import { bytes, keyPair, through } from './age-helpers.js';

const CHUNK = 64 * 1024;

describe('age codec', async () => {
  const a = await keyPair();
  const b = await keyPair();
  const enc = (input: Buffer, piece?: number) => through(ageEncryptor({ recipients: [a.recipient, b.recipient] })(), input, piece);
  const dec = (input: Buffer, identities = [a.identity], piece?: number) => through(ageDecryptor({ identities, passphrases: [] })(), input, piece);

  it.each([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])('round-trips %d bytes', async (n) => {
    const plain = bytes(n, n + 7);
    const sealed = await enc(plain, 7_777);
    expect(sealed.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    // age's sizes: header + 16-byte nonce + one 16-byte tag per started 64 KiB chunk (at least one).
    const chunks = Math.max(1, Math.ceil(n / CHUNK));
    const header = sealed.indexOf('\n--- ') + 1;
    const headerEnd = sealed.indexOf('\n', header) + 1;
    expect(sealed.length).toBe(headerEnd + 16 + n + 16 * chunks);
    expect((await dec(sealed, [a.identity], 1_000)).equals(plain)).toBe(true);
    expect((await dec(sealed, [b.identity], 100_000)).equals(plain)).toBe(true);
  });

  // The payload is ours (node:crypto); age-encryption's own pure-JS implementation must read it, and vice versa.
  it('interoperates with age-encryption both ways (recipients)', async () => {
    const plain = bytes(2 * CHUNK + 333, 9);
    const d = new Decrypter();
    d.addIdentity(b.identity);
    expect(Buffer.from(await d.decrypt(await enc(plain))).equals(plain)).toBe(true);
    const e = new Encrypter();
    e.addRecipient(a.recipient);
    expect((await dec(Buffer.from(await e.encrypt(plain)))).equals(plain)).toBe(true);
  });

  it('interoperates with age-encryption both ways (passphrase)', async () => {
    const plain = bytes(CHUNK + 1, 11);
    // Our scrypt stanza, at a low work factor: the pure-JS scrypt takes ~15 s at the default 2^18.
    const ours = new Encrypter();
    ours.addRecipient(scryptRecipient('pw-1', 12));
    const d = new Decrypter();
    d.addPassphrase('pw-1');
    expect(Buffer.from(await d.decrypt(await ours.encrypt(plain))).equals(plain)).toBe(true);
    const e = new Encrypter();
    e.setPassphrase('pw-2');
    e.setScryptWorkFactor(12);
    const theirs = Buffer.from(await e.encrypt(plain));
    expect((await through(ageDecryptor({ identities: [], passphrases: ['pw-2'] })(), theirs)).equals(plain)).toBe(true);
  });

  it('encrypts each artifact under a new file key', async () => {
    const plain = bytes(1000);
    const [x, y] = await Promise.all([enc(plain), enc(plain)]);
    expect(x.equals(y)).toBe(false);
  });

  it('round-trips with a passphrase, and refuses a wrong one', async () => {
    const plain = bytes(CHUNK * 2 + 5);
    const sealed = await through(ageEncryptor({ passphrase: 'correct horse battery staple' })(), plain);
    expect(sealed.toString('latin1', 0, 200)).toMatch(/\n-> scrypt [A-Za-z0-9+/]{22} 18\n/);
    const ok = await through(ageDecryptor({ identities: [], passphrases: ['correct horse battery staple'] })(), sealed);
    expect(ok.equals(plain)).toBe(true);
    await expect(through(ageDecryptor({ identities: [a.identity], passphrases: ['wrong'] })(), sealed)).rejects.toThrow(/none of the configured keys can decrypt/);
  });

  it('refuses an identity the file was not encrypted to', async () => {
    const other = await keyPair();
    const err = await dec(await enc(bytes(10)), [other.identity]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).check).toBe('decrypt');
    expect((err as Error).message).toMatch(/none of the configured keys can decrypt this backup/);
    expect((err as Error).message).toContain('it was encrypted to someone else (its manifest does not record to whom: an older backup)');
  });

  it('names the recipients its manifest records when no identity fits, or none is configured', async () => {
    // Before: 'it was encrypted to someone else', and the operator could not tell which key to look for.
    const other = await keyPair();
    const sealed = await enc(bytes(10));
    const to = { recipients: [a.recipient, b.recipient] };
    const wrong = await through(ageDecryptor({ identities: [other.identity], passphrases: [] })(to), sealed).catch((e: unknown) => e);
    expect((wrong as Error).message).toContain(`it was encrypted to ${a.recipient}, ${b.recipient}: set RS_ENCRYPTION_IDENTITY_FILE to the identity of one of them`);
    const byPassphrase = await through(ageDecryptor({ identities: [], passphrases: ['pw'] })(to), sealed).catch((e: unknown) => e);
    expect((byPassphrase as Error).message).toContain(`it was encrypted to age keys (${a.recipient}, ${b.recipient}), not with a passphrase`);
  });

  describe('on damaged input: a clear IntegrityError, never a crash or a short result', async () => {
    const plain = bytes(3 * CHUNK + 100, 3);
    const sealed = await enc(plain);
    const headerEnd = sealed.indexOf('\n', sealed.indexOf('\n--- ') + 1) + 1;
    const payload = headerEnd + 16;

    it.each([
      ['in the magic line', 5],
      ['in the header', headerEnd - 30],
      ['in the nonce', payload - 3],
      ['in the payload', payload + CHUNK],
      ['in the last chunk', sealed.length - 2],
    ])('a bit flipped %s', async (_where, at) => {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 0x10;
      const err = await dec(bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(/decrypt: .*(not an age file|MAC|malformed|failed authentication|none of the configured)/);
    });

    it.each([
      ['inside the header', 40],
      ['before the nonce', headerEnd],
      ['inside the nonce', headerEnd + 8],
      ['right after the nonce', payload],
      ['in a chunk', payload + 1000],
      ['at a chunk boundary', payload + (CHUNK + 16) * 2],
      ['one byte short', sealed.length - 1],
    ])('truncated %s', async (_where, at) => {
      const err = await dec(sealed.subarray(0, at)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(/^decrypt: /);
    });

    it('with bytes appended', async () => {
      await expect(dec(Buffer.concat([sealed, Buffer.from('x')]))).rejects.toThrow(/failed authentication/);
    });

    it('with a header that never ends, without holding more than a bounded amount', async () => {
      const endless = Buffer.concat([Buffer.from('age-encryption.org/v1\n'), Buffer.alloc(2 * 1024 * 1024, 'A')]);
      await expect(dec(endless)).rejects.toThrow(/header is longer than/);
    });

    it('that is not age at all', async () => {
      await expect(dec(Buffer.from('\x1f\x8b gzip, not age'))).rejects.toThrow(/not an age file/);
    });

    it('with a scrypt work factor that would take gigabytes, refused before deriving', async () => {
      const forged = Buffer.from(`age-encryption.org/v1\n-> scrypt ${Buffer.alloc(16).toString('base64').replace(/=+$/, '')} 40\n${Buffer.alloc(32).toString('base64').replace(/=+$/, '')}\n--- ${Buffer.alloc(32).toString('base64').replace(/=+$/, '')}\n${'n'.repeat(16)}${'t'.repeat(16)}`);
      // Deriving first would take days and 2^40 * 1 KiB of memory: the test's timeout, not this assertion, would end it.
      await expect(through(ageDecryptor({ identities: [], passphrases: ['x'] })(), forged)).rejects.toThrow(/work factor 2\^40/);
    });

    it('random bytes after a valid magic line, 200 times', async () => {
      for (let i = 0; i < 200; i++) {
        const junk = Buffer.concat([Buffer.from('age-encryption.org/v1\n'), bytes((i * 997) % 5000, i + 1)]);
        const err = await dec(junk).catch((e: unknown) => e);
        expect(err, `input ${i}`).toBeInstanceOf(IntegrityError);
      }
    });
  });
});
