import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BoltFile } from '../../../src/snapshot/bolt-file.js';
import { FileSource } from '../../../src/snapshot/file-source.js';
import { openSnapshot, SnapshotFormatError, type LiveKey } from '../../../src/snapshot/index.js';
import { readMeta } from '../../../src/snapshot/meta.js';
import { scanPages } from '../../../src/snapshot/page-scan.js';
import { boltStatus, type BoltStatus } from '../../../src/snapshot/status.js';
import { walkAllBuckets } from '../../../src/snapshot/verify-tree.js';
import { writeMeta } from './bolt-writer.js';

// Seeded mutations of a small real snapshot. Each reader call must give a result or a SnapshotFormatError: never
// another exception, never a hang, never an allocation out of proportion to the file.
const DB = fileURLToPath(new URL('./fixtures/small.db', import.meta.url));
const PAGE = 4096;
const CASES_PER_KIND = 40;
const CASE_TIMEOUT_MS = 5000;
const MAX_ALLOCATION = 8 * 1024 * 1024;

/** mulberry32: small, seedable, good enough to pick offsets. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Outcome {
  status?: unknown;
  keys?: string[];
  leases?: unknown;
  verified?: boolean;
}

let base: Buffer;
let pageCount: number;
let branches: number[];
let leaves: number[];
let unreachable: number[];
let expected: Outcome;
let dir: string;

async function collect(iterable: AsyncIterable<LiveKey>): Promise<string[]> {
  const out: string[] = [];
  for await (const k of iterable) out.push(`${k.key.toString('hex')}=${k.value.toString('hex')}@${k.modRevision}/${k.version}/${k.lease}`);
  return out;
}

/** Runs `fn`; a SnapshotFormatError is an accepted outcome (undefined), anything else fails the case. */
async function formatErrorOr<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof SnapshotFormatError) return undefined;
    throw err;
  }
}

/** Status by the plain tree walk, and by the page scan with small chunks: the two must always agree. */
async function bothStatusPaths(path: string): Promise<[BoltStatus | undefined, BoltStatus | undefined]> {
  const source = await FileSource.open(path);
  try {
    const file = await formatErrorOr(async () => new BoltFile(source, await readMeta(source)));
    if (file === undefined) return [undefined, undefined];
    return [
      await formatErrorOr(() => boltStatus(file)),
      await formatErrorOr(async () => boltStatus(file, await scanPages(file, undefined, 3 * PAGE))),
    ];
  } finally {
    await source.close();
  }
}

/** Every reader entry point on one file. */
async function exercise(path: string): Promise<Outcome> {
  const [walked, scanned] = await bothStatusPaths(path);
  expect(scanned).toEqual(walked);
  const reader = await formatErrorOr(() => openSnapshot(path));
  if (reader === undefined) return {};
  try {
    const outcome: Outcome = {
      status: await formatErrorOr(() => reader.status()),
      keys: await formatErrorOr(() => collect(reader.liveKeys())),
      leases: await formatErrorOr(() => reader.leases()),
    };
    // verify turns every problem into a failed check: it must not throw at all.
    const checks = await reader.verify();
    expect(checks.length).toBeGreaterThan(0);
    outcome.verified = checks.every((c) => c.ok);
    return outcome;
  } finally {
    await reader.close();
  }
}

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

let caseNo = 0;
async function run(bytes: Buffer, what: string): Promise<Outcome> {
  const path = join(dir, `case-${caseNo++}.db`);
  await writeFile(path, bytes);
  try {
    return await withTimeout(exercise(path), what);
  } finally {
    await rm(path, { force: true });
  }
}

const pick = <T>(rnd: () => number, xs: T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
const int = (rnd: () => number, n: number): number => Math.floor(rnd() * n);
const interesting = (rnd: () => number): number =>
  pick(rnd, [0, 1, 2, 0xff, 0xffff, 0x7fffffff, 0xffffffff, int(rnd, 0x1_0000_0000), pageCount, pageCount - 1]);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-snapshot-fuzz-'));
  base = await readFile(DB);
  const source = await FileSource.open(DB);
  try {
    const file = new BoltFile(source, await readMeta(source));
    pageCount = file.pageCount;
    const tree = await walkAllBuckets(file);
    unreachable = [];
    for (let id = 2; id < pageCount; id++) if (!tree.reachable.has(id)) unreachable.push(id);
  } finally {
    await source.close();
  }
  branches = [];
  leaves = [];
  for (let id = 2; id < pageCount; id++) {
    const flags = base.readUInt16LE(id * PAGE + 8);
    if (base.readUInt32LE(id * PAGE) !== id || unreachable.includes(id)) continue;
    if (flags === 0x01) branches.push(id);
    if (flags === 0x02) leaves.push(id);
  }
  expected = await run(base, 'unchanged file');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Mutations by kind: each returns the mutated copy. */
const kinds: Record<string, (rnd: () => number) => Buffer> = {
  truncate: (rnd) => base.subarray(0, int(rnd, base.length + 1)),
  'flip bits': (rnd) => {
    const b = Buffer.from(base);
    for (let i = 1 + int(rnd, 8); i > 0; i--) b[int(rnd, b.length)]! ^= 1 << int(rnd, 8);
    return b;
  },
  'garbage page header': (rnd) => {
    const b = Buffer.from(base);
    const at = (2 + int(rnd, pageCount - 2)) * PAGE;
    if (rnd() < 0.5) b.writeUInt32LE(interesting(rnd), at);
    if (rnd() < 0.5) b.writeUInt16LE(pick(rnd, [0, 1, 2, 4, 0x10, 3, int(rnd, 0x10000)]), at + 8);
    if (rnd() < 0.7) b.writeUInt16LE(interesting(rnd) & 0xffff, at + 10);
    if (rnd() < 0.7) b.writeUInt32LE(interesting(rnd), at + 12);
    return b;
  },
  'branch to itself or elsewhere': (rnd) => {
    const b = Buffer.from(base);
    const id = pick(rnd, branches);
    const count = b.readUInt16LE(id * PAGE + 10);
    const target = pick(rnd, [id, id, 0, 1, pageCount, 0xffffffff, pick(rnd, leaves), pick(rnd, branches)]);
    b.writeBigUInt64LE(BigInt(target), id * PAGE + 16 + 16 * int(rnd, count) + 8);
    return b;
  },
  'garbage leaf element': (rnd) => {
    const b = Buffer.from(base);
    const id = pick(rnd, leaves);
    const count = Math.max(1, b.readUInt16LE(id * PAGE + 10));
    b.writeUInt32LE(interesting(rnd), id * PAGE + 16 + 16 * int(rnd, count) + 4 * int(rnd, 4));
    return b;
  },
  'forged meta': (rnd) => {
    // Valid checksums over absurd values: what a hostile file, not a damaged one, looks like.
    const b = Buffer.from(base);
    for (const index of [0, 1]) {
      writeMeta(b, index, {
        pageSize: pick(rnd, [PAGE, PAGE, 512, 65536, 1 << 24, 3000]),
        root: pick(rnd, [0, 1, 2, pageCount - 1, pageCount, interesting(rnd)]),
        pgid: pick(rnd, [pageCount, pageCount + 1, 2, interesting(rnd)]),
        txid: 10 - index,
        freelist: pick(rnd, [0xffffffffffffffffn, 0n, 2n, BigInt(pageCount)]),
      }, index * PAGE);
    }
    return b;
  },
  'page copied over another': (rnd) => {
    const b = Buffer.from(base);
    const from = 2 + int(rnd, pageCount - 2);
    const to = 2 + int(rnd, pageCount - 2);
    base.copy(b, to * PAGE, from * PAGE, (from + 1) * PAGE);
    if (rnd() < 0.5) b.writeBigUInt64LE(BigInt(to), to * PAGE);
    return b;
  },
  'flip bits in free pages': (rnd) => {
    const b = Buffer.from(base);
    const id = pick(rnd, unreachable);
    for (let i = 1 + int(rnd, 64); i > 0; i--) b[id * PAGE + int(rnd, PAGE)]! ^= 1 << int(rnd, 8);
    return b;
  },
};

describe('reader on mutated snapshots', () => {
  it('reads the unmutated fixture completely', () => {
    expect(expected.keys?.length).toBeGreaterThan(100);
    expect(expected.verified).toBe(true);
    expect(branches.length).toBeGreaterThan(0);
    expect(unreachable.length).toBeGreaterThan(0);
  });

  for (const [kind, mutate] of Object.entries(kinds)) {
    it(`${kind}: ${CASES_PER_KIND} seeded cases give a result or a SnapshotFormatError`, async () => {
      const allocations = [vi.spyOn(Buffer, 'allocUnsafe'), vi.spyOn(Buffer, 'alloc')];
      try {
        for (let seed = 0; seed < CASES_PER_KIND; seed++) {
          const rnd = random(seed * 7919 + kind.length);
          const outcome = await run(mutate(rnd), `${kind} #${seed}`);
          if (kind === 'flip bits in free pages') {
            // Bytes nothing reaches cannot change a result; only the sha256 trailer notices.
            expect(outcome.keys).toEqual(expected.keys);
            expect(outcome.status).toEqual({ ...(expected.status as object), trailer: 'mismatch' });
          }
        }
        const largest = Math.max(0, ...allocations.flatMap((spy) => spy.mock.calls.map((c) => Number(c[0]))));
        expect(largest).toBeLessThanOrEqual(MAX_ALLOCATION);
      } finally {
        allocations.forEach((spy) => spy.mockRestore());
      }
      expect(process.memoryUsage().rss).toBeLessThan(1024 * 1024 * 1024);
    });
  }
});
