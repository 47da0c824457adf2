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
import { statusOf } from './s3-errors.js';
import { RetriesExhausted, type S3Sender } from './s3-retry.js';

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

/** What an upload left for the caller to clean up. */
export interface UploadState {
  /** The multipart upload, once one was created. */
  uploadId?: string;
  /**
   * The request that makes the object (PutObject, CompleteMultipartUpload) was sent. When the upload failed after
   * that, the object may be stored all the same: a reply lost with the connection, or a retry of a completion that
   * had succeeded (S3 then answers NoSuchUpload).
   */
  objectMayExist?: boolean;
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
  const parts = new PartUploads(sender, params, opts, state);
  let buf = parts.take();
  let fill = 0;
  let partNumber = 1;
  try {
    for await (const chunk of body) {
      parts.throwIfFailed();
      let at = 0;
      while (at < chunk.length) {
        if (partNumber > MAX_PARTS) throw new Error(`the object needs more than ${MAX_PARTS} parts of ${opts.partSize} bytes, S3's limit`);
        const n = chunk.copy(buf, fill, at);
        fill += n;
        at += n;
        if (fill === opts.partSize) {
          await parts.slot();
          parts.start(buf, fill, partNumber++);
          buf = parts.take();
          fill = 0;
        }
      }
    }
  } catch (err) {
    throw await parts.abandon(err);
  }
  if (partNumber === 1) {
    // It all fit in one part: a plain PutObject.
    await sendMaking(sender, new PutObjectCommand({ ...params, Body: buf.subarray(0, fill), ContentLength: fill }), 'PutObject', opts.signal, state);
    return;
  }
  // An object whose size is a multiple of the part size has no short last part.
  if (fill > 0) await parts.startLast(buf, fill, partNumber);
  await parts.complete();
}

/**
 * The parts of one multipart upload: the buffers they are assembled in (reused), the ones in flight, and the first
 * failure, after which no part starts and the ones in flight are cut off.
 */
class PartUploads {
  private readonly free: Buffer[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly done: CompletedPart[] = [];
  private failure: { error: unknown } | undefined;
  private created: Promise<string> | undefined;
  // Cut off the parts in flight once the upload has failed (or been aborted): their retries would only delay the error.
  private readonly stop = new AbortController();
  private readonly signal: AbortSignal;

  constructor(
    private readonly sender: Pick<S3Sender, 'send'>,
    private readonly params: Omit<CreateMultipartUploadCommandInput, 'Body'>,
    private readonly opts: MultipartOptions,
    private readonly state: UploadState,
  ) {
    this.signal = opts.signal ? AbortSignal.any([opts.signal, this.stop.signal]) : this.stop.signal;
  }

  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = { error };
    this.stop.abort(error);
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Waits until fewer than `queueSize` parts are in flight; throws the failure of one that failed. */
  async slot(): Promise<void> {
    while (this.inFlight.size >= this.opts.queueSize && !this.failure) await Promise.race(this.inFlight);
    this.throwIfFailed();
  }

  /** A buffer for the next part: at most queueSize buffers are in flight and one is filling, queueSize + 1 in all. */
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(this.opts.partSize);
  }

  private upload(): Promise<string> {
    this.created ??= this.sender
      .send<CreateMultipartUploadCommandOutput>(new CreateMultipartUploadCommand(this.params), 'CreateMultipartUpload', this.signal)
      .then((res) => {
        this.state.uploadId = res.UploadId;
        if (res.UploadId === undefined) throw new Error('S3 returned no UploadId for CreateMultipartUpload');
        return res.UploadId;
      });
    return this.created;
  }

  /** Sends the first `length` bytes of `buf` as part `partNumber`; the buffer is free again once it is stored. */
  start(buf: Buffer, length: number, partNumber: number): void {
    const { Bucket, Key } = this.params;
    const job = this.upload()
      .then((UploadId) =>
        this.sender.send<UploadPartCommandOutput>(
          new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: partNumber, Body: buf.subarray(0, length), ContentLength: length }),
          `UploadPart ${partNumber}`,
          this.signal,
        ),
      )
      .then(
        (res) => {
          this.done.push({ PartNumber: partNumber, ETag: res.ETag });
          this.free.push(buf);
        },
        (error: unknown) => this.fail(error),
      )
      .finally(() => this.inFlight.delete(job));
    this.inFlight.add(job);
  }

  /** The short last part, unless the upload has failed already (complete throws that). */
  async startLast(buf: Buffer, length: number, partNumber: number): Promise<void> {
    await this.slot().catch(() => undefined);
    if (!this.failure) this.start(buf, length, partNumber);
  }

  /** Fails the upload with `err`, waits for the parts in flight to settle, and gives the error to throw. */
  async abandon(err: unknown): Promise<unknown> {
    this.fail(err);
    await Promise.allSettled(this.inFlight);
    return this.failure!.error;
  }

  /** Waits for every part, then completes the upload with them in order. */
  async complete(): Promise<void> {
    await Promise.all(this.inFlight);
    this.throwIfFailed();
    const parts = [...this.done].sort((a, b) => a.PartNumber! - b.PartNumber!);
    const UploadId = await this.created!;
    await sendMaking<CompleteMultipartUploadCommandOutput>(
      this.sender,
      new CompleteMultipartUploadCommand({ Bucket: this.params.Bucket, Key: this.params.Key, UploadId, MultipartUpload: { Parts: parts } }),
      'CompleteMultipartUpload',
      this.opts.signal,
      this.state,
    );
  }
}

/**
 * Sends the request that makes the object (PutObject, CompleteMultipartUpload), keeping in `state` whether the object
 * may exist should it fail: from the moment it is sent, unless it was sent once and refused with a reply (4xx:
 * credentials, permissions, a bad part list), when S3 carried none of it out. After a retry the object may exist all
 * the same (an attempt before whose reply was lost).
 */
async function sendMaking<T>(sender: Pick<S3Sender, 'send'>, command: object, what: string, signal: AbortSignal | undefined, state: UploadState): Promise<T> {
  state.objectMayExist = true;
  try {
    return await sender.send<T>(command, what, signal);
  } catch (err) {
    const status = err instanceof RetriesExhausted && err.attempts === 1 ? statusOf(err.last) : undefined;
    if (status !== undefined && status >= 400 && status < 500) state.objectMayExist = false;
    throw err;
  }
}
