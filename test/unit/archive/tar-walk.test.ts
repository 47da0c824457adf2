import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IntegrityError } from '../../../src/core/errors.js';
import { MAX_TAR_ENTRY, tarEnd, tarPadding } from '../../../src/archive/tar.js';
import { tarHeaders } from '../../../src/archive/tar-header.js';
import { TarWalker, type TarWalkEntry } from '../../../src/archive/tar-walk.js';

const dir = mkdtempSync(join(tmpdir(), 'rs-tarwalk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Walks `bytes` fed in `chunk`-sized pieces; returns entries with their data. */
function walk(bytes: Buffer, chunk = bytes.length): Array<TarWalkEntry & { data: Buffer }> {
  const out: Array<TarWalkEntry & { data: Buffer }> = [];
  const parts = new Map<TarWalkEntry, Buffer[]>();
  const w = new TarWalker({
    entry: (e) => parts.set(e, []),
    data: (e, piece) => parts.get(e)!.push(Buffer.from(piece)),
    done: (e) => out.push({ ...e, data: Buffer.concat(parts.get(e)!) }),
  });
  for (let i = 0; i < bytes.length; i += chunk) w.write(bytes.subarray(i, i + chunk));
  w.end();
  return out;
}

/** A staging folder with a long name, a directory, a symlink and a 3000-byte file, tarred by GNU tar in `format`. */
let made = 0;
function gnuTar(format: string): Buffer {
  const src = join(dir, `src-${format}-${++made}`);
  const long = `checkpoint/${'d'.repeat(90)}/${'f'.repeat(60)}.img`;
  mkdirSync(join(src, long, '..'), { recursive: true });
  writeFileSync(join(src, long), Buffer.alloc(3000, 7));
  writeFileSync(join(src, 'config.dump'), '{"id":"x"}');
  symlinkSync('config.dump', join(src, 'link'));
  return execFileSync('tar', ['-c', `--format=${format}`, '-C', src, 'checkpoint', 'config.dump', 'link']);
}

describe('TarWalker', () => {
  for (const format of ['pax', 'gnu', 'ustar']) {
    it(`reads GNU tar's ${format} archives: long names, directories, links, data, whatever the chunking`, () => {
      const bytes = gnuTar(format);
      for (const chunk of [1, 100, 512, 4096, bytes.length]) {
        const entries = walk(bytes, chunk);
        const file = entries.find((e) => e.name.endsWith('.img'))!;
        expect(file.name).toBe(`checkpoint/${'d'.repeat(90)}/${'f'.repeat(60)}.img`);
        expect(file.kind).toBe('file');
        expect(file.data.equals(Buffer.alloc(3000, 7))).toBe(true);
        expect(entries.find((e) => e.name === 'config.dump')!.data.toString()).toBe('{"id":"x"}');
        expect(entries.find((e) => e.name === 'link')).toMatchObject({ kind: 'symlink', linkname: 'config.dump', size: 0 });
        expect(entries.filter((e) => e.kind === 'directory').map((e) => e.name)).toContain('checkpoint/');
      }
    });
  }

  it('reads a size beyond 8 GiB from a pax header, and a GNU base-256 size', () => {
    const big = MAX_TAR_ENTRY + 12345;
    const seen: TarWalkEntry[] = [];
    const w = new TarWalker({ entry: (e) => seen.push(e) });
    for (const h of tarHeaders({ name: 'blobs/sha256/abc', kind: 'file', size: big, mode: 0o644, mtime: 0 })) w.write(h);
    const gnu = tarHeaders({ name: 'huge', kind: 'file', size: 0, mode: 0o644, mtime: 0 })[0]!;
    gnu.fill(0, 124, 136);
    gnu[124] = 0x80;
    gnu.writeUIntBE(big, 136 - 6, 6);
    gnu.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of gnu) sum += b;
    gnu.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
    const w2 = new TarWalker({ entry: (e) => seen.push(e) });
    w2.write(gnu);
    expect(seen.map((e) => [e.name, e.size])).toEqual([['blobs/sha256/abc', big], ['huge', big]]);
  });

  it('writes the pax size record GNU tar reads (forced on a small file: one over 8 GiB cannot be made here)', () => {
    expect(tarHeaders({ name: 'x/small', kind: 'file', size: 5, mode: 0o644, mtime: 0 })).toHaveLength(1);
    const big = tarHeaders({ name: 'x/big', kind: 'file', size: MAX_TAR_ENTRY + 1, mode: 0o644, mtime: 0 });
    expect(big).toHaveLength(4);
    expect(big[1]!.toString('ascii')).toBe(`19 size=${MAX_TAR_ENTRY + 1}\n`);
    const forced = tarHeaders({ name: 'x/data.bin', kind: 'file', size: 1000, mode: 0o644, mtime: 0 }, 10);
    expect(forced).toHaveLength(4);
    expect(forced[3]!.toString('latin1', 124, 135)).toBe('00000000000');
    const data = Buffer.alloc(1000, 9);
    const bytes = Buffer.concat([...forced, data, tarPadding(1000), tarEnd()]);
    expect(execFileSync('tar', ['-tvf', '-'], { input: bytes }).toString()).toMatch(/ 1000 .* x\/data\.bin/);
    expect(execFileSync('tar', ['-xOf', '-', 'x/data.bin'], { input: bytes }).equals(data)).toBe(true);
    expect(walk(bytes).map((e) => [e.name, e.size, e.data.equals(data)])).toEqual([['x/data.bin', 1000, true]]);
  });

  it('fails on a bad checksum, data after the end, and archives cut short, naming the offset', () => {
    const good = Buffer.concat([...tarHeaders({ name: 'a', kind: 'file', size: 3, mode: 0o600, mtime: 0 }), Buffer.from('abc'), tarPadding(3), tarEnd()]);
    expect(walk(good).map((e) => e.name)).toEqual(['a']);
    const corrupt = Buffer.from(good);
    corrupt[10] = 0x41;
    expect(() => walk(corrupt)).toThrow(/byte 0: header checksum mismatch/);
    expect(() => walk(Buffer.concat([good, Buffer.from('x')]))).toThrow(/data after the end-of-archive marker/);
    expect(() => walk(good.subarray(0, 514))).toThrow(/ends inside entry "a": cut short/);
    expect(() => walk(good.subarray(0, 1024))).toThrow(/without tar's end-of-archive marker/);
    try {
      walk(corrupt);
    } catch (err) {
      expect(err).toBeInstanceOf(IntegrityError);
    }
  });

  it('accepts the zero padding GNU tar adds after the end marker', () => {
    const bytes = gnuTar('pax');
    expect(bytes.length % 10240).toBe(0);
    expect(walk(bytes).length).toBeGreaterThan(3);
  });
});
