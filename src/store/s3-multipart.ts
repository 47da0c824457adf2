import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompleteMultipartUploadCommandOutput,
  type CompletedPart,
  type CreateMultipartUploadCommandInput,
  type CreateMultipartUploadCommandOutput,
  type UploadPartCommandOutput,
} from '@aws-sdk/client-s3';
import type { S3Sender } from './s3-retry.js';

/** S3's limit of parts per upload. */
const MAX_PARTS = 10_000;

export interface MultipartOptions {
  /** Bytes per part (S3: at least 5 MiB, except the last). */
  partSize: number;
  /** Parts uploading at once; one more is filled meanwhile. */
  queueSize: number;
  /** Stops the requests in flight (SIGTERM); they are also stopped once one part has failed for good. */
  signal?: AbortSignal;
}

/** What an upload left for the caller to clean up: the multipart upload id, once one was created. */
export interface UploadState {
  uploadId?: string;
}

/**
 * Uploads a byte stream to S3: one PutObject when it fits in a part, else a multipart upload. Parts are assembled in
 * `queueSize + 1` buffers of `partSize` that are reused from part to part, so each byte is copied once (into its part)
 * and memory stays at those buffers, whatever the size of the object. (lib-storage's Upload concatenates every part
 * into a new buffer: one more copy, and 8 MiB of fresh memory per part that only a full GC gives back; for a 406 MB
 * snapshot that was ~1.5 s more CPU (copies, page faults, ~30 full GCs) and ~70 MB more RSS.) Reading waits while
 * every buffer is full or uploading:
 * back-pressure up to the source. After a part fails (the SDK has retried it), no further part starts and the error
 * is thrown once the parts in flight have settled (they are cut off: the upload has failed anyway);
 * `state.uploadId` then names the upload to abort. Every request goes through `sender`: a deadline per attempt and
 * retries over a window of time.
 */
export async function uploadStream(
  sender: Pick<S3Sender, 'send'>,
  params: Omit<CreateMultipartUploadCommandInput, 'Body'>,
  body: AsyncIterable<Buffer>,
  opts: MultipartOptions,
  state: UploadState,
): Promise<void> {
  const { partSize, queueSize } = opts;
  const free: Buffer[] = [];
  const inFlight = new Set<Promise<void>>();
  const parts: CompletedPart[] = [];
  let failure: { error: unknown } | undefined;
  let created: Promise<string> | undefined;
  // Cut off the parts in flight once the upload has failed (or been aborted): their retries would only delay the error.
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const fail = (error: unknown) => {
    if (failure) return;
    failure = { error };
    stop.abort(error);
  };

  /** Waits until fewer than `queueSize` parts are in flight; throws the failure of one that failed. */
  const slot = async (): Promise<void> => {
    while (inFlight.size >= queueSize && !failure) await Promise.race(inFlight);
    if (failure) throw failure.error;
  };
  // At most queueSize buffers are in flight and one is filling: queueSize + 1 in all.
  const take = (): Buffer => free.pop() ?? Buffer.allocUnsafe(partSize);
  const start = (buf: Buffer, length: number, partNumber: number): void => {
    created ??= sender.send<CreateMultipartUploadCommandOutput>(new CreateMultipartUploadCommand(params), 'CreateMultipartUpload', signal).then((res) => {
      state.uploadId = res.UploadId;
      if (res.UploadId === undefined) throw new Error('S3 returned no UploadId for CreateMultipartUpload');
      return res.UploadId;
    });
    const job = created
      .then((UploadId) =>
        sender.send<UploadPartCommandOutput>(
          new UploadPartCommand({ Bucket: params.Bucket, Key: params.Key, UploadId, PartNumber: partNumber, Body: buf.subarray(0, length), ContentLength: length }),
          `UploadPart ${partNumber}`,
          signal,
        ),
      )
      .then(
        (res) => {
          parts.push({ PartNumber: partNumber, ETag: res.ETag });
          free.push(buf);
        },
        (error: unknown) => fail(error),
      )
      .finally(() => inFlight.delete(job));
    inFlight.add(job);
  };
  const settle = async (): Promise<void> => {
    await Promise.all(inFlight);
    if (failure) throw failure.error;
  };

  let buf = take();
  let fill = 0;
  let partNumber = 1;
  try {
    for await (const chunk of body) {
      if (failure) throw failure.error;
      let at = 0;
      while (at < chunk.length) {
        if (partNumber > MAX_PARTS) throw new Error(`the object needs more than ${MAX_PARTS} parts of ${partSize} bytes, S3's limit`);
        const n = chunk.copy(buf, fill, at);
        fill += n;
        at += n;
        if (fill === partSize) {
          await slot();
          start(buf, fill, partNumber++);
          buf = take();
          fill = 0;
        }
      }
    }
  } catch (err) {
    fail(err);
    await Promise.allSettled(inFlight);
    throw failure!.error;
  }
  if (partNumber === 1) {
    // It all fit in one part: a plain PutObject.
    await sender.send(new PutObjectCommand({ ...params, Body: buf.subarray(0, fill), ContentLength: fill }), 'PutObject', opts.signal);
    return;
  }
  // An object whose size is a multiple of the part size has no short last part.
  if (fill > 0) {
    await slot().catch(() => undefined); // a failure is thrown by settle()
    if (!failure) start(buf, fill, partNumber);
  }
  await settle();
  parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
  await sender.send<CompleteMultipartUploadCommandOutput>(
    new CompleteMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: await created!, MultipartUpload: { Parts: parts } }),
    'CompleteMultipartUpload',
    opts.signal,
  );
}
