import { describe, expect, it } from 'vitest';
import { parseManifest, serializeManifest, type Manifest } from '../../../src/archive/manifest.js';
import { IntegrityError } from '../../../src/core/errors.js';
import { keyPair } from './age-helpers.js';

/** An age-encrypted key dump's manifest as written before `encryptedTo` was recorded. */
const OLD: Manifest = {
  format: 1,
  id: '20261122T030710.123Z-a1b2c3',
  cluster: 'prod-eu-1',
  strategy: 'raw',
  createdAt: '2026-11-22T03:07:10.123Z',
  artifact: '20261122T030710.123Z-a1b2c3.keys.tar.gz.age',
  contentType: 'tar',
  compression: 'gzip',
  encryption: 'age',
  sha256: 'a'.repeat(64),
  sizeBytes: 12345,
  rawSizeBytes: 67890,
  etcd: { version: '3.5.9', revision: 150, apiVersion: 'v3' },
  tool: { name: 'reshifter', version: '0.1.0' },
};

describe("the manifest's encryptedTo", async () => {
  const { recipient, identity } = await keyPair();

  it('reads a manifest without it (older backups), and one with recipients or a passphrase, as written', () => {
    expect(parseManifest(serializeManifest(OLD), 'm').encryptedTo).toBeUndefined();
    for (const encryptedTo of [{ recipients: [recipient] }, { passphrase: true as const }]) {
      const m = { ...OLD, encryptedTo };
      expect(parseManifest(serializeManifest(m), 'm')).toEqual(m);
    }
  });

  it.each([
    ['on a backup that is not encrypted', { recipients: ['R'] }, { encryption: 'none' }],
    ['a list rather than an object', ['R'], {}],
    ['text', 'R', {}],
    ['null', null, {}],
    ['an empty list of recipients', { recipients: [] }, {}],
    ['both a list and a passphrase', { recipients: ['R'], passphrase: true }, {}],
    ['a passphrase that is not true', { passphrase: 'hunter2' }, {}],
    ['an unknown field', { keys: ['R'] }, {}],
    ['a recipient that is not text', { recipients: [7] }, {}],
    ['a recipient that is no age key', { recipients: ['ssh-ed25519 AAAA'] }, {}],
    ['a secret key where a public one goes', { recipients: ['SECRET'] }, {}],
    ['a long text', { recipients: ['age1' + 'q'.repeat(100_000)] }, {}],
    ['thousands of recipients', { recipients: Array.from({ length: 5000 }, () => 'R') }, {}],
  ])('refuses %s with an IntegrityError naming the field', (_what, value, extra) => {
    const fill = (v: unknown): unknown => (v === 'R' ? recipient : v === 'SECRET' ? identity : Array.isArray(v) ? v.map(fill) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x)])) : v);
    const bytes = JSON.stringify({ ...OLD, ...extra, encryptedTo: fill(value) });
    expect(() => parseManifest(bytes, 'm')).toThrow(IntegrityError);
    expect(() => parseManifest(bytes, 'm')).toThrow(/field "encryptedTo/);
    // A secret key given where a public one goes is never quoted back.
    expect(() => parseManifest(bytes, 'm')).not.toThrow(/AGE-SECRET-KEY/);
  });
});
