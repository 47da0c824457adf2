import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DUMP_FORMAT, DUMP_VERSION, type DumpHeader } from '../../../src/archive/key-dump-format.js';
import { readKeyDump, readKeyDumpBatches } from '../../../src/archive/key-dump-reader.js';
import { KeyDumpWriter } from '../../../src/archive/key-dump-writer.js';
import type { KeyRecord } from '../../../src/core/key-record.js';
import { keyDumpKeys } from '../../../src/ops/backup-keys.js';
import type { KeyDumpBackup } from '../../../src/ops/open-backup.js';

const HEADER: DumpHeader = { format: DUMP_FORMAT, version: DUMP_VERSION, apiVersion: 'v3', etcdVersion: '3.4.23', revision: 9, prefixes: ['/registry'], createdAt: '2026-01-01T00:00:00.000Z' };

const RECORDS: KeyRecord[] = Array.from({ length: 300 }, (_, i) => ({
  key: Buffer.from(`/registry/configmaps/ns-${i % 7}/cm-${String(i).padStart(4, '0')}`),
  value: Buffer.alloc((i * 37) % 900, i & 0xff),
  createRevision: i + 2,
  modRevision: i + 2,
  version: 1,
  ...(i % 50 === 3 && { lease: String(1000 + i), ttl: 60 }),
}));

function dump(): Buffer {
  const w = new KeyDumpWriter(new Date('2026-01-01T00:00:00Z'));
  return Buffer.concat([w.header(HEADER), ...w.keysOf(RECORDS), w.end()]);
}

const pieces = (bytes: Buffer, chunk: number) => Array.from({ length: Math.ceil(bytes.length / chunk) }, (_, i) => bytes.subarray(i * chunk, (i + 1) * chunk));

function backup(chunk: number, opened: { count: number }): KeyDumpBackup {
  const bytes = dump();
  const open = () => (opened.count++, Readable.from(pieces(bytes, chunk)));
  return { kind: 'key dump', manifest: { id: 'b1' } as KeyDumpBackup['manifest'], items: () => readKeyDump(open()), batches: () => readKeyDumpBatches(open()), close: async () => undefined };
}

const keysOf = (records: readonly KeyRecord[]) => records.map((r) => `${r.key.toString()}=${r.value.length}:${r.lease ?? ''}`);

describe('key dump batches', () => {
  it('hold exactly the items of readKeyDump, in order, whatever the chunking', async () => {
    for (const chunk of [700, 4096, 65536, 1 << 22]) {
      const flat = [];
      for await (const item of readKeyDump(Readable.from(pieces(dump(), chunk)))) flat.push(item);
      const batched = [];
      for await (const batch of readKeyDumpBatches(Readable.from(pieces(dump(), chunk)))) {
        expect(batch.length).toBeGreaterThan(0);
        batched.push(...batch);
      }
      expect(batched).toEqual(flat);
    }
  });

  it('keyDumpKeys: recordBatches and records give every key once, the first pass reusing the read that took the header', async () => {
    for (const chunk of [700, 65536, 1 << 22]) {
      const opened = { count: 0 };
      const stream = await keyDumpKeys(backup(chunk, opened));
      expect(stream.header).toEqual(HEADER);
      const first: KeyRecord[] = [];
      for await (const batch of stream.recordBatches!()) first.push(...batch);
      expect(opened.count).toBe(1);
      const second: KeyRecord[] = [];
      for await (const r of stream.records()) second.push(r);
      expect(opened.count).toBe(2);
      expect(keysOf(first)).toEqual(keysOf(RECORDS));
      expect(keysOf(second)).toEqual(keysOf(RECORDS));
      await stream.close();
    }
  });

  it('keyDumpKeys: a pass stopped early ends its read', async () => {
    const opened = { count: 0 };
    const stream = await keyDumpKeys(backup(700, opened));
    let n = 0;
    for await (const batch of stream.recordBatches!()) if ((n += batch.length) > 10) break;
    expect(n).toBeGreaterThan(10);
    expect(n).toBeLessThan(RECORDS.length);
  });
});
