import { createHash, randomBytes } from 'node:crypto';
import type { S3Sender } from '../../../src/store/s3-retry.js';
import { describe, expect, it } from 'vitest';
import { uploadStream, type UploadState } from '../../../src/store/s3-multipart.js';

interface Sent {
  op: string;
  input: Record<string, unknown>;
  /** A copy of the body as it was when the request was sent (the uploader reuses its part buffers). */
  body?: Buffer;
}

/** An S3 client that records requests; `fail` decides which ones fail; `delayMs` keeps parts in flight a while. */
function fakeS3(opts: { fail?: (op: string, input: Record<string, unknown>) => boolean; delayMs?: number } = {}) {
  const sent: Sent[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const client = {
    async send(cmd: { constructor: { name: string }; input: Record<string, unknown> }) {
      const op = cmd.constructor.name.replace(/Command$/, '');
      const body = cmd.input.Body as Buffer | undefined;
      sent.push({ op, input: cmd.input, ...(body && { body: Buffer.from(body) }) });
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await new Promise((r) => setTimeout(r, opts.delayMs ?? 1));
        // The body must not change while its request is in flight.
        if (body && !body.equals(sent.find((s) => s.input === cmd.input)!.body!)) throw new Error('body changed in flight');
        if (opts.fail?.(op, cmd.input)) throw Object.assign(new Error(`${op} failed`), { name: 'InternalError' });
        if (op === 'CreateMultipartUpload') return { UploadId: 'u1' };
        if (op === 'UploadPart') return { ETag: `"${createHash('md5').update(body!).digest('hex')}"` };
        return {};
      } finally {
        inFlight--;
      }
    },
  };
  return { client: client as unknown as S3Sender, sent, maxInFlight: () => maxInFlight };
}

async function* chunksOf(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

const PART = 64 * 1024;
const params = { Bucket: 'b', Key: 'k' };

describe('uploadStream', () => {
  it('sends a body smaller than a part as one PutObject', async () => {
    const s3 = fakeS3();
    const data = randomBytes(1000);
    await uploadStream(s3.client, params, chunksOf(data, 300), { partSize: PART, queueSize: 2 }, {});
    expect(s3.sent.map((s) => s.op)).toEqual(['PutObject']);
    expect(s3.sent[0]!.body!.equals(data)).toBe(true);
  });

  it('sends an empty body as an empty PutObject', async () => {
    const s3 = fakeS3();
    await uploadStream(s3.client, params, chunksOf(Buffer.alloc(0), 1), { partSize: PART, queueSize: 2 }, {});
    expect(s3.sent.map((s) => [s.op, s.body?.length])).toEqual([['PutObject', 0]]);
  });

  for (const size of [PART, 3 * PART, 5 * PART + 12345]) {
    it(`splits ${size} bytes into parts that reassemble to the body, reusing at most queueSize+1 buffers`, async () => {
      const s3 = fakeS3({ delayMs: 5 });
      const data = randomBytes(size);
      const state: UploadState = {};
      await uploadStream(s3.client, params, chunksOf(data, 7000), { partSize: PART, queueSize: 2 }, state);
      expect(state.uploadId).toBe('u1');
      const parts = s3.sent.filter((s) => s.op === 'UploadPart');
      expect(parts.map((p) => p.input.PartNumber)).toEqual(parts.map((_, i) => i + 1));
      expect(Buffer.concat(parts.map((p) => p.body!)).equals(data)).toBe(true);
      expect(parts.slice(0, -1).every((p) => p.body!.length === PART)).toBe(true);
      expect(s3.maxInFlight()).toBeLessThanOrEqual(2);
      const complete = s3.sent.at(-1)!;
      expect(complete.op).toBe('CompleteMultipartUpload');
      const listed = (complete.input.MultipartUpload as { Parts: Array<{ PartNumber: number; ETag: string }> }).Parts;
      expect(listed.map((p) => p.PartNumber)).toEqual(parts.map((p) => p.input.PartNumber));
      expect(listed.map((p) => p.ETag)).toEqual(parts.map((p) => `"${createHash('md5').update(p.body!).digest('hex')}"`));
    });
  }

  it('stops reading and starts no part after one failed; throws that error once the parts in flight settled', async () => {
    const s3 = fakeS3({ fail: (op, input) => op === 'UploadPart' && input.PartNumber === 2, delayMs: 5 });
    let read = 0;
    async function* body(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 40; i++) {
        read++;
        yield randomBytes(PART / 2);
      }
    }
    const state: UploadState = {};
    await expect(uploadStream(s3.client, params, body(), { partSize: PART, queueSize: 2 }, state)).rejects.toThrow('UploadPart failed');
    expect(state.uploadId).toBe('u1');
    expect(read).toBeLessThan(40);
    expect(s3.sent.filter((s) => s.op === 'UploadPart').length).toBeLessThanOrEqual(4);
    expect(s3.sent.some((s) => s.op === 'CompleteMultipartUpload')).toBe(false);
  });

  it('fails when the body fails, after the parts in flight settled', async () => {
    const s3 = fakeS3({ delayMs: 5 });
    async function* body(): AsyncGenerator<Buffer> {
      yield randomBytes(PART * 2);
      throw new Error('etcd went away');
    }
    await expect(uploadStream(s3.client, params, body(), { partSize: PART, queueSize: 2 }, {})).rejects.toThrow('etcd went away');
    expect(s3.sent.some((s) => s.op === 'CompleteMultipartUpload')).toBe(false);
  });
});
