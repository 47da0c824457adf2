import { execFileSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DUMP_FORMAT, DUMP_VERSION, type DumpHeader } from '../../../src/archive/key-dump-format.js';
import { KeyDumpCheck, readKeyDump, type DumpItem } from '../../../src/archive/key-dump-reader.js';
import { KeyDumpWriter, OWN_CHUNK_BYTES } from '../../../src/archive/key-dump-writer.js';
import { tarEnd, tarEntry } from '../../../src/archive/tar.js';
import { IntegrityError } from '../../../src/core/errors.js';
import type { KeyRecord } from '../../../src/core/key-record.js';

const HEADER: DumpHeader = {
  format: DUMP_FORMAT,
  version: DUMP_VERSION,
  apiVersion: 'v3',
  etcdVersion: '3.4.23',
  revision: 42,
  prefixes: ['/registry'],
  createdAt: '2026-01-01T00:00:00.000Z',
};

const RECORDS: KeyRecord[] = [
  { key: Buffer.from('/registry/configmaps/default/ünïcødé-名前'), value: Buffer.from('k8s\0abc'), createRevision: 2, modRevision: 5, version: 3 },
  { key: Buffer.from('/registry/configmaps/default/with space:and%41'), value: Buffer.alloc(0), createRevision: 3, modRevision: 3, version: 1 },
  { key: Buffer.concat([Buffer.from('/registry/bin-'), Buffer.from([0x00, 0xff, 0xfe, 0x80])]), value: Buffer.from([0, 1, 2, 255]), createRevision: 4, modRevision: 4, version: 1 },
  { key: Buffer.from('/registry/events/default/e1'), value: Buffer.from('{"kind":"Event"}'), createRevision: 6, modRevision: 6, version: 1, lease: '7587862072908627204', ttl: 3599 },
  { key: Buffer.from('/registry/configmaps/default/big'), value: Buffer.alloc(1_400_000, 'x'), createRevision: 7, modRevision: 7, version: 1 },
];

function dump(records: KeyRecord[] = RECORDS): Buffer {
  const w = new KeyDumpWriter(new Date('2026-01-01T00:00:00Z'));
  return Buffer.concat([w.header(HEADER), ...w.keysOf(records.slice(0, 2)), ...w.keysOf(records.slice(2)), w.end()]);
}

async function readAll(bytes: Buffer, chunk = 65536): Promise<DumpItem[]> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) pieces.push(bytes.subarray(i, i + chunk));
  const out: DumpItem[] = [];
  for await (const item of readKeyDump(Readable.from(pieces))) out.push(item);
  return out;
}

async function check(bytes: Buffer): Promise<void> {
  await pipeline(Readable.from([bytes]), new KeyDumpCheck(), new Writable({ write: (_c, _e, cb) => cb() }));
}

describe('key dump format', () => {
  it('round-trips binary-safe keys and values, revisions, leases and TTLs', async () => {
    for (const chunk of [1000, 511, 65536, 1 << 22]) {
      const items = await readAll(dump(), chunk);
      expect(items[0]).toEqual({ type: 'header', header: HEADER });
      const records = items.slice(1).map((i) => (i.type === 'key' ? i.record : undefined));
      expect(records).toHaveLength(RECORDS.length);
      records.forEach((r, i) => {
        expect(r!.key.equals(RECORDS[i]!.key)).toBe(true);
        expect(r!.value.equals(RECORDS[i]!.value)).toBe(true);
        expect({ ...r, key: 0, value: 0 }).toEqual({ ...RECORDS[i], key: 0, value: 0 });
      });
    }
  });

  it('is an ordinary tar.gz: tar lists it, and values and the JSON index come out with tar', () => {
    const gz = gzipSync(dump());
    const names = execFileSync('tar', ['-tzf', '-'], { input: gz }).toString().trim().split('\n');
    expect(names[0]).toBe('reshifter-dump.json');
    expect(names[names.length - 1]).toBe('reshifter-end.json');
    expect(names).toContain('keys/000000005.value');
    expect(execFileSync('tar', ['-xOzf', '-', 'keys/000000003.value'], { input: gz }).equals(RECORDS[2]!.value)).toBe(true);
    const index = execFileSync('tar', ['-xOzf', '-', '--wildcards', 'keys/*.json'], { input: gz }).toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(index).toHaveLength(5);
    expect(index[0]!.key).toBe('/registry/configmaps/default/ünïcødé-名前');
    // A key that is not UTF-8 has no text form, only its exact bytes.
    expect(index[2]!.key).toBeUndefined();
    expect(Buffer.from(index[2]!.keyBase64 as string, 'base64').equals(RECORDS[2]!.key)).toBe(true);
    expect(index[3]).toMatchObject({ lease: '7587862072908627204', ttl: 3599 });
  });

  it('passes big values on uncopied, between small ones, and tar still reads every value', async () => {
    const sizes = [3, OWN_CHUNK_BYTES - 1, 0, OWN_CHUNK_BYTES, 700, OWN_CHUNK_BYTES + 1, OWN_CHUNK_BYTES * 3 + 5];
    const records: KeyRecord[] = sizes.map((size, i) => ({ key: Buffer.from(`/registry/configmaps/ns/k${i}`), value: Buffer.alloc(size, 97 + i), createRevision: i + 1, modRevision: i + 1, version: 1 }));
    const w = new KeyDumpWriter(new Date('2026-01-01T00:00:00Z'));
    const chunks = w.keysOf(records);
    for (const r of records) expect(chunks.some((c) => c === r.value)).toBe(r.value.length >= OWN_CHUNK_BYTES);
    const bytes = Buffer.concat([w.header(HEADER), ...chunks, w.end()]);
    expect(bytes.length % 512).toBe(0);
    await check(bytes);
    const items = await readAll(bytes, 4096);
    expect(items.slice(1).map((i) => (i.type === 'key' ? i.record.value.equals(records[i.record.createRevision - 1]!.value) : false))).toEqual(sizes.map(() => true));
    expect(execFileSync('tar', ['-xOf', '-', 'keys/000000006.value'], { input: bytes }).equals(records[5]!.value)).toBe(true);
  });

  it('holds a dump of no keys', async () => {
    const w = new KeyDumpWriter(new Date());
    const items = await readAll(Buffer.concat([w.header(HEADER), w.end()]));
    expect(items).toEqual([{ type: 'header', header: HEADER }]);
  });

  it('passes its content check, which fails on truncation anywhere', async () => {
    const bytes = dump();
    await check(bytes);
    for (const cut of [0, 100, 1024, 2048, 5000, bytes.length - 2000, bytes.length - 1024, bytes.length - 1]) {
      await expect(check(bytes.subarray(0, cut)), `cut at ${cut}`).rejects.toThrow(IntegrityError);
    }
  });

  it('hands out the keys before the damage, then fails', async () => {
    const bytes = dump();
    const items: DumpItem[] = [];
    await expect(async () => {
      for await (const item of readKeyDump(Readable.from([bytes.subarray(0, bytes.length - 1500000)]))) items.push(item);
    }).rejects.toThrow(/cut short/);
    expect(items.filter((i) => i.type === 'key').length).toBe(4);
  });

  const entry = (name: string, data: string | Buffer) => tarEntry(name, Buffer.isBuffer(data) ? data : Buffer.from(data), 0);
  const headerEntry = entry('reshifter-dump.json', JSON.stringify(HEADER));
  const meta = (o: Record<string, unknown>) => JSON.stringify({ n: 1, keyBase64: Buffer.from('/registry/k').toString('base64'), valueSize: 1, createRevision: 1, modRevision: 1, version: 1, ...o });
  const hostile: Array<[string, Buffer, RegExp]> = [
    ['not a dump', Buffer.concat([...entry('etc/passwd', 'root'), tarEnd()]), /first entry is etc\/passwd/],
    ['another format', Buffer.concat([...entry('reshifter-dump.json', JSON.stringify({ ...HEADER, format: 'x' })), tarEnd()]), /format/],
    ['keys out of order', Buffer.concat([...headerEntry, ...entry('keys/000000002.json', meta({ n: 2 })), tarEnd()]), /expected keys\/000000001.json/],
    ['value size differs from its key entry', Buffer.concat([...headerEntry, ...entry('keys/000000001.json', meta({})), ...entry('keys/000000001.value', 'ab'), tarEnd()]), /claims 2 bytes|is 2 bytes/],
    ['a value larger than allowed', Buffer.concat([...headerEntry, ...entry('keys/000000001.json', meta({ valueSize: 2 ** 40 })), tarEnd()]), /more than/],
    ['bad base64 key', Buffer.concat([...headerEntry, ...entry('keys/000000001.json', meta({ keyBase64: '!!' })), tarEnd()]), /keyBase64/],
    // Written into the archive by whoever can write the store: restore would put it into etcd, beyond what was dumped.
    ['a key outside the prefixes of its header', Buffer.concat([...headerEntry, ...entry('keys/000000001.json', meta({ keyBase64: Buffer.from('/evil/x').toString('base64') })), tarEnd()]), /keys\/000000001.json holds key \/evil\/x, outside the prefixes its header names \(\/registry\)/],
    ['a key that only starts as a prefix does', Buffer.concat([...headerEntry, ...entry('keys/000000001.json', meta({ keyBase64: Buffer.from('/registryx/y').toString('base64') })), tarEnd()]), /holds key \/registryx\/y, outside the prefixes/],
    ['text key disagreeing with the bytes', Buffer.concat([...headerEntry, ...entry('keys/000000001.json', meta({ key: '/other' })), tarEnd()]), /differ/],
    ['missing end entry', Buffer.concat([...headerEntry, ...entry('keys/000000001.json', meta({})), ...entry('keys/000000001.value', 'a'), tarEnd()]), /reshifter-end.json is missing/],
    ['end counts wrong', Buffer.concat([...headerEntry, ...entry('reshifter-end.json', '{"keys":3,"valueBytes":0}'), tarEnd()]), /counts 3 keys/],
    ['entries after the end', Buffer.concat([...headerEntry, ...entry('reshifter-end.json', '{"keys":0,"valueBytes":0}'), ...entry('keys/000000001.json', meta({})), tarEnd()]), /after reshifter-end.json/],
  ];
  it.each(hostile)('rejects a hostile archive: %s', async (_name, bytes, why) => {
    const err = await check(bytes).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(why);
  });
});
