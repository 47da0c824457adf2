import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../../src/archive/manifest.js';
import { copyVerified } from '../../../src/archive/local-copy.js';
import { snapshotError } from '../../../src/archive/snapshot-error.js';
import { AbortedError } from '../../../src/core/errors.js';

/**
 * A download or snapshot read stopped by SIGTERM says so: Node's bare 'The operation was aborted' named neither the
 * signal nor that it was one ("downloading backup X failed: The operation was aborted").
 */
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rs-copy-abort-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it('a copy stopped by the signal is an AbortedError naming it, and leaves nothing in the work area', async () => {
  const controller = new AbortController();
  const m = { id: '20261206T010203.456Z-abcdef', artifact: '20261206T010203.456Z-abcdef.snapshot.db.zst', sizeBytes: 1 << 20 } as Manifest;
  // A download that never ends by itself: SIGTERM arrives while it flows.
  const stored = new Readable({ read() {} });
  stored.push(Buffer.alloc(64 * 1024));
  setTimeout(() => controller.abort(new Error('received SIGTERM')), 50);
  const err = await copyVerified(stored, m, controller.signal, work).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AbortedError);
  expect((err as Error).message).toBe(`downloading backup ${m.id} stopped: received SIGTERM`);
  expect(await readdir(work)).toEqual([]);
});

it("a snapshot read stopped by the signal: the reader's AbortError is said as stopped, with the signal", () => {
  const abort = Object.assign(new Error('The operation was aborted'), { name: 'AbortError', cause: new Error('received SIGTERM') });
  const err = snapshotError(abort, 'backup X');
  expect(err).toBeInstanceOf(AbortedError);
  expect((err as Error).message).toBe('reading backup X stopped: received SIGTERM');
});
