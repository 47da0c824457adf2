import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { RenderListingCheck, readRenderListing, renderLine } from '../../../src/archive/render-listing.js';
import type { AuditRow } from '../../../src/kube/audit-row.js';

const rows: AuditRow[] = [
  { key: '/registry/pods/a/b', resource: 'pods', kind: 'Pod', size: 10, encoding: 'protobuf' },
  { key: '/registry/secrets/a/s', resource: 'secrets', size: 20, encoding: 'encrypted', encryption: 'aescbc/key1' },
];
const text = Buffer.from(rows.map(renderLine).join(''));
const check = (b: Buffer) => pipeline(Readable.from([b]), new RenderListingCheck(), new Writable({ write: (_c, _e, cb) => cb() }));

describe('render listing', () => {
  it('reads its rows back across any chunking', async () => {
    for (const size of [1, 5, 64, text.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(text.subarray(i, i + size));
      const out: AuditRow[] = [];
      for await (const r of readRenderListing(Readable.from(chunks))) out.push(r);
      expect(out).toEqual(rows);
    }
  });

  it('passes its check, and fails on a cut-short or garbled listing', async () => {
    await check(text);
    await check(Buffer.alloc(0));
    await expect(check(text.subarray(0, text.length - 3))).rejects.toThrow(/cut short/);
    await expect(check(Buffer.from('{"key":"x"}\n'))).rejects.toThrow(/line 1: not a listing row/);
    await expect(check(Buffer.concat([text, Buffer.from('garbage\n')]))).rejects.toThrow(/line 3/);
  });

  it('writes its version in every row, reads rows without it (listings before it), and refuses a newer one by name', async () => {
    expect(text.toString().split('\n')[0]).toMatch(/,"listingVersion":1}$/);
    const older = Buffer.from(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const out: AuditRow[] = [];
    for await (const r of readRenderListing(Readable.from([older]))) out.push(r);
    expect(out).toEqual(rows);
    const newer = Buffer.from('{"rows":"of another shape","listingVersion":2}\n');
    await expect(check(newer)).rejects.toThrow('render listing: line 1 is version 2, written by a newer reshifter (this one reads version 1): upgrade reshifter to read it');
    await expect(check(Buffer.from('{"key":"x","size":1,"encoding":"json","listingVersion":"one"}\n'))).rejects.toThrow(/line 1 is version "one"; this reshifter reads version 1/);
  });
});

