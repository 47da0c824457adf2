import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ageDecryptor, ageEncryptor } from '../../../src/archive/age-codec.js';
import { KeyDumpWriter } from '../../../src/archive/key-dump-writer.js';
import { readKeyDump } from '../../../src/archive/key-dump-reader.js';
import { parseManifest, serializeManifest, type Manifest } from '../../../src/archive/manifest.js';
import { ParallelZstd } from '../../../src/archive/parallel-zstd.js';
import { readRenderListing, renderLine } from '../../../src/archive/render-listing.js';
import { verifyArtifact } from '../../../src/archive/verify-artifact.js';
import { IntegrityError } from '../../../src/core/errors.js';
import { bytes, keyPair, through } from './age-helpers.js';

/** A small deterministic PRNG, so a failure names an input that can be replayed. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** Damaged variants of `good`: truncations, bit flips, overwritten runs, insertions and pure noise. */
function* mutants(good: Buffer, count: number, seed = 1): Generator<[string, Buffer]> {
  const r = rng(seed);
  for (let i = 0; i < count; i++) {
    const kind = i % 5;
    if (kind === 0) {
      const at = r(good.length);
      yield [`truncated at ${at}`, good.subarray(0, at)];
    } else if (kind === 1) {
      const b = Buffer.from(good);
      const at = r(b.length);
      b[at]! ^= 1 << r(8);
      yield [`bit flipped at ${at}`, b];
    } else if (kind === 2) {
      const b = Buffer.from(good);
      const at = r(b.length);
      b.fill(r(256), at, Math.min(b.length, at + 1 + r(64)));
      yield [`overwritten at ${at}`, b];
    } else if (kind === 3) {
      const at = r(good.length);
      yield [`bytes inserted at ${at}`, Buffer.concat([good.subarray(0, at), bytes(1 + r(100), i), good.subarray(at)])];
    } else {
      yield [`noise ${i}`, bytes(r(4096), i + 1)];
    }
  }
}

/** Feeds `input` to a reader in odd-sized pieces. */
const pieces = (input: Buffer) => Readable.from((function* () {
  for (let i = 0; i < input.length; i += 333) yield input.subarray(i, i + 333);
})());

/** Runs `read`; it must end or throw an IntegrityError (never another error). A reader that hangs ends at the test's timeout. */
async function survives(what: string, read: () => Promise<unknown>): Promise<'ok' | 'refused'> {
  try {
    await read();
    return 'ok';
  } catch (err) {
    if (!(err instanceof IntegrityError)) throw new Error(`${what}: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    return 'refused';
  }
}

const MANIFEST: Manifest = {
  format: 1,
  id: '20261122T030710.123Z-a1b2c3',
  cluster: 'prod-eu-1',
  strategy: 'raw',
  createdAt: '2026-11-22T03:07:10.123Z',
  artifact: '20261122T030710.123Z-a1b2c3.raw.tar.gz.age',
  contentType: 'tar',
  compression: 'gzip',
  encryption: 'age',
  sha256: 'a'.repeat(64),
  sizeBytes: 12345,
  rawSizeBytes: 67890,
  etcd: { version: '3.4.23', revision: 150, apiVersion: 'v3' },
  keys: 42,
  tool: { name: 'reshifter', version: '0.1.0' },
};

describe('manifest reader, fuzzed', () => {
  it('accepts the good one', () => {
    expect(parseManifest(serializeManifest(MANIFEST), 'm')).toEqual(MANIFEST);
  });

  it('2000 damaged manifests: each parsed into a well-typed manifest or refused with an IntegrityError', async () => {
    let refused = 0;
    for (const [what, input] of mutants(serializeManifest(MANIFEST), 2000)) {
      if ((await survives(what, async () => {
        const m = parseManifest(input, 'm');
        // Whatever got through is well-formed: what readers rely on.
        expect(m.artifact.startsWith(`${m.id}.`) && !m.artifact.includes('/')).toBe(true);
        expect(Number.isSafeInteger(m.sizeBytes) && m.sizeBytes >= 0).toBe(true);
        expect(/^[0-9a-f]{64}$/.test(m.sha256)).toBe(true);
      })) === 'refused') refused++;
    }
    expect(refused).toBeGreaterThan(1000);
  });

  it.each([
    ['each field with the wrong type', Object.keys(MANIFEST).map((k) => ({ ...MANIFEST, [k]: k === 'format' ? 2 : [k] }))],
    ['hostile values', [
      { ...MANIFEST, artifact: '../../../etc/passwd' },
      { ...MANIFEST, artifact: `${MANIFEST.id}.x/../../y` },
      { ...MANIFEST, artifact: `${MANIFEST.id}.\u0000` },
      { ...MANIFEST, sizeBytes: -1 },
      { ...MANIFEST, sizeBytes: 2 ** 60 },
      { ...MANIFEST, rawSizeBytes: 1.5 },
      { ...MANIFEST, createdAt: 'yesterday' },
      { ...MANIFEST, etcd: null },
    ]],
  ])('refuses %s', (_what, variants) => {
    for (const v of variants) expect(() => parseManifest(JSON.stringify(v), 'm')).toThrow(IntegrityError);
  });

  it('refuses a huge manifest without parsing it', () => {
    expect(() => parseManifest(Buffer.alloc(2 * 1024 * 1024, 0x20), 'm')).toThrow(/more than a manifest can be/);
  });
});

function goodDump(): Buffer {
  const w = new KeyDumpWriter(new Date('2026-11-22T03:07:10Z'));
  const keys = ['/registry/secrets/default/a', '/registry/../../etc/passwd', '/registry/nul\u0000key', '/registry/ünïcödé'];
  const parts = [
    w.header({ format: 'reshifter-key-dump', version: 1, apiVersion: 'v3', etcdVersion: '3.4.23', revision: 9, prefixes: ['/registry'], createdAt: '2026-11-22T03:07:10.000Z' } as Parameters<KeyDumpWriter['header']>[0]),
    ...w.keysOf(keys.map((k, i) => ({ key: Buffer.from(k), value: bytes(100 + i * 700, i + 1), createRevision: i + 1, modRevision: i + 2, version: 1 }))),
    w.end(),
  ];
  return Buffer.concat(parts);
}

describe('key dump reader, fuzzed', () => {
  const good = goodDump();

  it('reads the good one, key names as bytes', async () => {
    const keys: string[] = [];
    for await (const item of readKeyDump(pieces(good))) if (item.type === 'key') keys.push(item.record.key.toString());
    expect(keys).toEqual(['/registry/secrets/default/a', '/registry/../../etc/passwd', '/registry/nul\u0000key', '/registry/ünïcödé']);
  });

  it('1000 damaged dumps: each read whole or refused with an IntegrityError', async () => {
    let refused = 0;
    for (const [what, input] of mutants(good, 1000, 7)) {
      if ((await survives(what, async () => {
        for await (const _ of readKeyDump(pieces(input))) void _;
      })) === 'refused') refused++;
    }
    // Damage inside a value reads "whole": a dump has no per-value checksum (the artifact's sha256 covers it).
    expect(refused).toBeGreaterThan(700);
  });

  it('refuses an entry that claims a huge size, without allocating it', async () => {
    const b = Buffer.from(good);
    // The header entry's size field (octal, 11 digits at offset 124): the largest ustar size.
    b.write('77777777777', 124, 'ascii');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i]!;
    b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    const before = process.memoryUsage().rss;
    await expect((async () => {
      for await (const _ of readKeyDump(pieces(b))) void _;
    })()).rejects.toThrow(/claims 8589934591 bytes/);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
  });
});

describe('render listing reader, fuzzed', () => {
  const good = Buffer.from(
    [0, 1, 2].map((i) => renderLine({ key: `/registry/pods/default/p${i}`, resource: 'pods', size: i, encoding: 'protobuf' } as Parameters<typeof renderLine>[0])).join(''),
  );
  it('500 damaged listings: each read or refused with an IntegrityError', async () => {
    for (const [what, input] of mutants(good, 500, 3)) {
      await survives(what, async () => {
        for await (const _ of readRenderListing(pieces(input))) void _;
      });
    }
  });
});

describe('verify, fuzzed: every damaged artifact is reported, never thrown', async () => {
  const { identity, recipient } = await keyPair();
  const keys = { decrypt: ageDecryptor({ identities: [identity], passphrases: [] }) };
  const content = goodDump();
  // Small frames, so damage lands in frames of every kind (first, middle, last).
  const zstd = await through(new ParallelZstd(3, 2, 4096), content);
  const variants: Array<[string, Pick<Manifest, 'compression' | 'encryption'>, Buffer]> = [
    ['plain', { compression: 'none', encryption: 'none' }, content],
    ['gzip', { compression: 'gzip', encryption: 'none' }, gzipSync(content)],
    ['gzip+age', { compression: 'gzip', encryption: 'age' }, await through(ageEncryptor({ recipients: [recipient] })(), gzipSync(content))],
    ['zstd', { compression: 'zstd', encryption: 'none' }, zstd],
    ['zstd+age', { compression: 'zstd', encryption: 'age' }, await through(ageEncryptor({ recipients: [recipient] })(), zstd)],
  ];

  it.each(variants)('%s: the good artifact passes every check', async (_name, codec, stored) => {
    const m = { ...MANIFEST, ...codec, sha256: createHash('sha256').update(stored).digest('hex'), sizeBytes: stored.length, rawSizeBytes: content.length };
    const checks = await verifyArtifact(pieces(stored), m, keys);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    // Every check ran: the stored bytes, their decoding and the content.
    expect(checks.map((c) => c.name)).toEqual(expect.arrayContaining(['size', 'sha256', 'raw-size', 'content']));
    expect(checks).toHaveLength(5);
  });

  it.each(variants)('%s: 150 damaged artifacts each fail at least one named check', async (_name, codec, stored) => {
    const m = { ...MANIFEST, ...codec, sha256: createHash('sha256').update(stored).digest('hex'), sizeBytes: stored.length, rawSizeBytes: content.length };
    for (const [what, input] of mutants(stored, 150, 11)) {
      if (input.equals(stored)) continue;
      const checks = await verifyArtifact(pieces(input), m, keys);
      expect(checks.some((c) => !c.ok), what).toBe(true);
      expect(checks.find((c) => !c.ok)!.name, what).toMatch(/^(size|sha256|decrypt|decompress|decrypt\+decompress|content|trailer|raw-size)$/);
      // A damaged artifact whose hash is re-recorded must still fail on decoding or content.
      const forged = { ...m, sha256: createHash('sha256').update(input).digest('hex'), sizeBytes: input.length };
      const deep = await verifyArtifact(pieces(input), forged, keys);
      if (deep.every((c) => c.ok)) {
        // age authenticates every byte, so an encrypted artifact never reads whole once damaged. gzip's CRC covers
        // the decoded bytes, so a damaged gzip artifact reads whole only when the damage hit a field nothing checks
        // (mtime, OS) and the content is intact. A plain dump has no checksum of its values: a changed value byte
        // reads whole, which is why the artifact's sha256 is checked first.
        expect(codec.encryption, what).toBe('none');
        if (codec.compression === 'gzip') expect(gunzipSync(input).equals(content), what).toBe(true);
      }
    }
  });
});
