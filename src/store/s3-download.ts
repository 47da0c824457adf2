import { GetObjectCommand, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { StoreError, describeError } from '../core/errors.js';
import { formatDuration } from '../core/duration.js';
import { printable } from '../core/printable.js';
import { budgetedWait, withoutWaitBudget } from '../core/wait-budget.js';
import type { Logger } from '../log.js';
import { DeadlineExceeded, isTransient } from './s3-errors.js';
import { RetriesExhausted, type S3Sender } from './s3-retry.js';

/** What a download needs to ask for the rest of an object again. */
export interface DownloadTarget {
  bucket: string;
  key: string;
  /** For messages: `s3://bucket/prefix/key`. */
  location: string;
  /** The part of the object asked for (inclusive), when not all of it. */
  range?: { start: number; end: number };
}

/**
 * The body of a GetObject as a stream that neither hangs nor fails on a brief outage. S3Sender's deadline ends when
 * the response headers arrive; a server that then stops sending (paused, blackholed) would hold the body forever.
 * Here every wait for the next chunk has the request deadline (only while the consumer waits for data, so
 * back-pressure never counts as a stall), and a stalled or broken body is asked for again from the byte where it
 * stopped (`Range`, `If-Match` of the first response's ETag, so a replaced object is never spliced in), for as long
 * as the retry window allows since the last byte arrived. The bytes are checked against the manifest's size and
 * sha256 by every reader anyway.
 */
export function resumableBody(sender: S3Sender, target: DownloadTarget, first: GetObjectCommandOutput, log?: Logger, signal?: AbortSignal): Readable {
  const { requestTimeoutMs, windowMs } = sender.policy;
  // Read for an API diff or stats (a budget kept until the first answer: core/wait-budget.ts): no byte waited for, and
  // no resume, longer than the budget's length since the last byte, and that wait is what the failure names. The
  // API's download of an artifact outlives its request's budget: it has the whole window, as a job has.
  const waited = budgetedWait(windowMs);
  const budget = waited.budget?.untilAnswered ? waited.budget : undefined;
  const budgetMs = waited.ms;
  const stall = budget !== undefined
    ? { ms: budgetMs, chunkMs: Math.max(1, Math.min(requestTimeoutMs, budgetMs)), limit: budget.what }
    : { ms: windowMs, chunkMs: requestTimeoutMs, limit: `${formatDuration(windowMs)} (RS_S3_RETRY_WINDOW)` };
  const etag = first.ETag;
  let body = first.Body as Readable;
  // Where the next byte is in the object (a resume asks from there).
  let offset = target.range?.start ?? 0;

  async function* chunks(): AsyncGenerator<Buffer> {
    // Within a budget, counted from when the next byte was asked for; else from the first failed wait, as before.
    let stalledSince: number | undefined = budget !== undefined ? Date.now() : undefined;
    for (;;) {
      let iterator: AsyncIterator<unknown> | undefined;
      try {
        iterator = body[Symbol.asyncIterator]();
        for (;;) {
          const next = await withDeadline(iterator.next(), stall.chunkMs, signal);
          if (next.done) return;
          const chunk = next.value as Buffer;
          offset += chunk.length;
          stalledSince = undefined;
          yield chunk;
          // Asked for the next: the wait starts now (the consumer's own pace is no stall).
          if (budget !== undefined) stalledSince = Date.now();
        }
      } catch (err) {
        body.destroy();
        if (signal?.aborted) throw err;
        const now = Date.now();
        stalledSince ??= now;
        if (!isTransient(err) || now - stalledSince >= stall.ms) {
          throw new StoreError(
            `reading ${target.location}: the download broke off after ${offset} bytes (${describeError(err)}) and did not resume within ${stall.limit}`,
            isTransient(err) ? 'transient' : 'other',
            { cause: err },
          );
        }
        log?.warn({ object: target.location, offset, err: describeError(err) }, 'S3 download broke off; resuming');
        const remaining = Math.max(1, stall.ms - (Date.now() - stalledSince));
        // Outside the API request's budget (a download may outlive it): its resumes have the window, or within a
        // budget what is left of its length, each attempt cut then.
        const at = { offset, etag, broke: err, remaining, limit: stall.limit, ...(budget !== undefined && { until: Date.now() + remaining }) };
        body = await withoutWaitBudget(() => resume(sender, target, at, signal));
      }
    }
  }

  const out = Readable.from(chunks(), { objectMode: false, highWaterMark: 1024 * 1024 });
  // A consumer that stops early (destroy) must not leave the socket open.
  out.once('close', () => body.destroy());
  return out;
}

/**
 * The rest of the object from byte `offset`, asked for again after a body broke off (`broke`) and within what is left
 * of the retry window; If-Match keeps a replaced object from being spliced in.
 */
async function resume(
  sender: S3Sender,
  target: DownloadTarget,
  at: { offset: number; etag: string | undefined; broke: unknown; remaining: number; limit: string; until?: number },
  signal?: AbortSignal,
): Promise<Readable> {
  const { offset, etag } = at;
  let rest: GetObjectCommandOutput;
  try {
    rest = await sender.send<GetObjectCommandOutput>(
      new GetObjectCommand({ Bucket: target.bucket, Key: target.key, Range: `bytes=${offset}-${target.range?.end ?? ''}`, ...(etag !== undefined && { IfMatch: etag }) }),
      'GetObject (resume)',
      signal,
      at.remaining,
      at.until,
    );
  } catch (e) {
    if (signal?.aborted) throw e;
    const last = e instanceof RetriesExhausted ? e.last : e;
    throw new StoreError(
      `reading ${target.location}: the download broke off after ${offset} bytes (${describeError(at.broke)}) and did not resume within ${at.limit}: ${describeError(last)}`,
      isTransient(last) ? 'transient' : 'other',
      { cause: e },
    );
  }
  if (etag !== undefined && rest.ETag !== undefined && rest.ETag !== etag) {
    throw new StoreError(`reading ${target.location}: the object changed while it was downloaded`);
  }
  if (!(rest.Body instanceof Readable)) throw new StoreError(`reading ${target.location}: S3 returned no readable body`);
  // A server that ignores Range (a 200 of the whole object, a proxy that drops the header) or answers another range
  // would have its bytes spliced in after those already read: the size or sha256 check then blamed the stored backup.
  if (/^bytes (\d+)-/.exec(rest.ContentRange ?? '')?.[1] !== String(offset)) {
    rest.Body.destroy();
    const answered = rest.ContentRange === undefined ? 'no Content-Range (the whole object?)' : `Content-Range "${printable(rest.ContentRange)}"`;
    throw new StoreError(`reading ${target.location}: the download broke off after ${offset} bytes and was asked for again from there, but the S3 server answered with ${answered}; nothing of that answer is used`);
  }
  return rest.Body;
}

/** `promise`, or a DeadlineExceeded after `ms` (or the signal's reason). */
function withDeadline<T>(promise: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => finish(() => reject(signal!.reason));
    const timer = setTimeout(() => finish(() => reject(new DeadlineExceeded(ms))), ms);
    const finish = (fn: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => finish(() => resolve(v)),
      (e) => finish(() => reject(e)),
    );
  });
}
