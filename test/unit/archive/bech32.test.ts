import { Decrypter, Encrypter } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { isAgeIdentity, isAgeRecipient } from '../../../src/archive/age-keys.js';
import { decodeBech32 } from '../../../src/archive/bech32.js';
import { keyPair } from './age-helpers.js';

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

function ageAccepts(add: () => void): boolean {
  try {
    add();
    return true;
  } catch {
    return false;
  }
}

describe('bech32 key check', () => {
  it('decodes the BIP 173 test vectors and refuses the invalid ones', () => {
    expect(decodeBech32('A12UEL5L')).toEqual({ prefix: 'a', bytes: new Uint8Array() });
    expect(decodeBech32('abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw')?.prefix).toBe('abcdef');
    expect(decodeBech32('split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w')?.prefix).toBe('split');
    for (const bad of ['pzry9x0s0muk', '1pzry9x0s0muk', 'x1b4n0q5v', 'li1dgmt3', 'A1G7SGD8', '10a06t8', '1qzzfhee', 'A12uEL5L']) {
      expect(decodeBech32(bad), bad).toBeUndefined();
    }
  });

  it('agrees with the age library on real keys and on every one-character change of them', async () => {
    for (let k = 0; k < 3; k++) {
      const { identity, recipient } = await keyPair();
      const variants = (s: string, upper: boolean) => {
        const out = [s];
        for (let at = 0; at < s.length; at++) {
          for (const c of [CHARSET[(at * 7 + k) % 32]!, CHARSET[(at * 13 + 5) % 32]!]) {
            out.push(s.slice(0, at) + (upper ? c.toUpperCase() : c) + s.slice(at + 1));
          }
        }
        return out;
      };
      for (const r of variants(recipient, false)) {
        expect(isAgeRecipient(r), r).toBe(/^age1[02-9ac-hj-np-z]{58}$/.test(r) && ageAccepts(() => new Encrypter().addRecipient(r)));
      }
      for (const i of variants(identity, true)) {
        expect(isAgeIdentity(i)).toBe(/^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/.test(i) && ageAccepts(() => new Decrypter().addIdentity(i)));
      }
    }
  });

  it('refuses non-zero padding bits, as age does', async () => {
    const { recipient } = await keyPair();
    // bech32 of "age" over `words`, checksum included.
    const encode = (words: number[]): string => {
      const G = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
      let chk = 1;
      for (const v of [3, 3, 3, 0, 1, 7, 5, ...words, 0, 0, 0, 0, 0, 0]) {
        const top = chk >>> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v;
        for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= G[i]!;
      }
      chk ^= 1;
      return `age1${[...words, ...Array.from({ length: 6 }, (_, i) => (chk >>> (5 * (5 - i))) & 31)].map((w) => CHARSET[w]).join('')}`;
    };
    const words = [...recipient.slice(4, -6)].map((c) => CHARSET.indexOf(c));
    expect(encode(words)).toBe(recipient);
    // The last data word carries 4 padding bits after the 32 bytes; set one.
    words[words.length - 1]! |= 1;
    const padded = encode(words);
    expect(ageAccepts(() => new Encrypter().addRecipient(padded))).toBe(false);
    expect(isAgeRecipient(padded)).toBe(false);
  });
});
