// Throughput of reshifter's age codec (node:crypto ChaCha20-Poly1305 STREAM) against age-encryption's pure-JS one.
//   npm run build && node bench/age-codec.mjs [MiB]
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { ageDecryptor, ageEncryptor } from '../dist/archive/age-codec.js';

const MIB = 1024 * 1024;
const size = Number(process.argv[2] ?? 512);
const block = randomBytes(MIB);
const source = (n) => Readable.from((function* () { for (let i = 0; i < n; i++) yield block; })());
const discard = () => new Writable({ write: (_c, _e, cb) => cb() });
const rate = (mib, t0) => `${(mib / ((performance.now() - t0) / 1000)).toFixed(0)} MiB/s`;

const identity = await generateX25519Identity();
const recipient = await identityToRecipient(identity);

let t0 = performance.now();
await pipeline(source(size), ageEncryptor({ recipients: [recipient] })(), discard());
const enc = rate(size, t0);
const sealed = [];
await pipeline(source(size), ageEncryptor({ recipients: [recipient] })(), new Writable({ write: (c, _e, cb) => (sealed.push(c), cb()) }));
t0 = performance.now();
await pipeline(Readable.from(sealed), ageDecryptor({ identities: [identity], passphrases: [] })(), discard());
const dec = rate(size, t0);
console.log(`reshifter age codec: encrypt ${enc}, decrypt ${dec} (${size} MiB)`);

const small = Math.min(size, 128);
const e = new Encrypter();
e.addRecipient(recipient);
t0 = performance.now();
await pipeline(Readable.fromWeb(await e.encrypt(Readable.toWeb(source(small)))), discard());
console.log(`age-encryption (pure JS): encrypt ${rate(small, t0)} (${small} MiB)`);
