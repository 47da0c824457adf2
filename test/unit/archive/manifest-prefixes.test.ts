import { describe, expect, it } from 'vitest';
import { parseManifest, serializeManifest, type Manifest } from '../../../src/archive/manifest.js';
import { IntegrityError } from '../../../src/core/errors.js';

/** A key dump's manifest, as reshifter writes it. */
const DUMP: Manifest = {
  format: 1,
  id: '20261122T030710.123Z-a1b2c3',
  cluster: 'prod-eu-1',
  strategy: 'keys',
  createdAt: '2026-11-22T03:07:10.123Z',
  artifact: '20261122T030710.123Z-a1b2c3.keys.tar.zst',
  contentType: 'etcd-keys',
  compression: 'zstd',
  encryption: 'none',
  sha256: 'a'.repeat(64),
  sizeBytes: 12345,
  rawSizeBytes: 67890,
  etcd: { version: '3.4.23', revision: 150, apiVersion: 'v3' },
  keys: 3,
  prefixes: ['/registry', '/'],
  tool: { name: 'reshifter', version: '0.1.0' },
};

describe("the manifest's prefixes", () => {
  it('reads a list of prefixes, and a manifest without them, as written', () => {
    expect(parseManifest(serializeManifest(DUMP), 'm')).toEqual(DUMP);
    const { prefixes: _gone, ...without } = DUMP;
    expect(parseManifest(JSON.stringify(without), 'm').prefixes).toBeUndefined();
  });

  it.each([
    ['text', 'x', 'field "prefixes" is not a list'],
    ['an object', { 0: '/registry' }, 'field "prefixes" is not a list'],
    ['a number', 7, 'field "prefixes" is not a list'],
    ['a list holding a number', ['/registry', 7], 'field "prefixes[1]" is not a key prefix'],
    ['a list holding a prefix without its slash', ['registry'], 'field "prefixes[0]" is not a key prefix'],
  ])('refuses %s with an IntegrityError naming the field', (_what, prefixes, said) => {
    const bytes = JSON.stringify({ ...DUMP, prefixes });
    expect(() => parseManifest(bytes, 'm')).toThrow(IntegrityError);
    expect(() => parseManifest(bytes, 'm')).toThrow(said);
  });
});
