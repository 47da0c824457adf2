import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { OperationError, StoreError, describeError } from '../core/errors.js';
import type { StoreConfig } from '../config/types.js';
import { skipPayloadHashOverHttps } from './s3-payload-hash.js';
import { uploadStream, type UploadState } from './s3-multipart.js';
import type { ObjectInfo, Store } from './types.js';

type S3Config = Extract<StoreConfig, { kind: 's3' }>;

const PART_SIZE = 8 * 1024 * 1024;
// Four parts in flight: s3rver (the slower side on two cores, busy on one part at a time) always has the next part
// waiting when etcd's stream stalls. 406 MB snapshot, 5 alternating runs: median 6.57 s with 2 in flight, 5.97 s with
// 3, 5.84 s with 4, no better with 6; parts of 5 or 16 MiB measured the same as 8. Memory: five 8 MiB part buffers,
// reused (see s3-multipart.ts).
const QUEUE_SIZE = 4;
/** Attempts per request (the SDK's standard retry mode backs off exponentially with jitter between them). */
const MAX_ATTEMPTS = 5;

const TRANSIENT = new Set([
  'TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'ServiceUnavailable', 'SlowDown', 'InternalError',
  'ThrottlingException', 'NetworkingError',
]);
/** Errors of a server that did not answer at all. */
const NETWORK = /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|socket hang up/i;

/** An S3 (or S3-compatible) store. Multipart uploads are aborted on any failure, so no partial object remains. */
export class S3Store implements Store {
  readonly location: string;
  private readonly client: S3Client;
  private readonly root: string;

  constructor(private readonly cfg: S3Config) {
    this.root = cfg.prefix === '' ? '' : `${cfg.prefix}/`;
    this.location = `s3://${cfg.bucket}/${cfg.prefix}`;
    this.client = new S3Client({
      region: cfg.region,
      forcePathStyle: cfg.forcePathStyle,
      maxAttempts: MAX_ATTEMPTS,
      // Checksums only where S3 requires them: the SDK's default adds a CRC32 pass over every part, and some
      // S3-compatible servers reject its checksum headers. Bodies are checked by SigV4's payload hash over http,
      // and by TLS over https (see s3-payload-hash.ts).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
      ...(cfg.endpoint !== undefined && { endpoint: cfg.endpoint }),
      ...(cfg.accessKeyId !== undefined &&
        cfg.secretAccessKey !== undefined && {
          credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
        }),
    });
    skipPayloadHashOverHttps(this.client);
  }

  private keyOf(key: string): string {
    if (key.split('/').some((p) => p === '' || p === '.' || p === '..')) {
      throw new StoreError(`refusing store key ${JSON.stringify(key)}: not a plain relative path`);
    }
    return this.root + key;
  }

  async put(key: string, body: Readable, opts: { signal?: AbortSignal } = {}): Promise<void> {
    // The upload reads the body through this guard: a body that fails, or ends without finishing (destroyed, or
    // the signal fired), fails the upload instead of completing it short.
    const signal = opts.signal;
    const aborted = () => new StoreError(`uploading ${this.location}${key}: aborted`);
    async function* guarded(): AsyncGenerator<Buffer> {
      // Not destroyed when the upload stops reading early: the catch below destroys it with the reason.
      for await (const chunk of body.iterator({ destroyOnReturn: false })) {
        if (signal?.aborted) throw aborted();
        yield chunk as Buffer;
      }
      if (signal?.aborted) throw aborted();
    }
    const onAbort = () => body.destroy(aborted());
    signal?.addEventListener('abort', onAbort, { once: true });
    const params = {
      Bucket: this.cfg.bucket,
      Key: this.keyOf(key),
      ...(this.cfg.sse !== undefined && { ServerSideEncryption: this.cfg.sse }),
      ...(this.cfg.sseKmsKeyId !== undefined && { SSEKMSKeyId: this.cfg.sseKmsKeyId }),
    };
    // A failed multipart upload is aborted here, once its parts in flight have settled, keeping the error that
    // failed it (rather than the abort's, if the abort fails too).
    const state: UploadState = {};
    try {
      await uploadStream(this.client, params, guarded(), { partSize: PART_SIZE, queueSize: QUEUE_SIZE }, state);
    } catch (err) {
      const e = this.wrap(err, `uploading ${this.location}${key}`);
      // With the error, so that whatever feeds the body reports why it stopped rather than a premature close.
      body.destroy(e);
      await this.abortMultipart(params.Key, state.uploadId);
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Aborts a multipart upload so that no part stays behind (S3 keeps and bills parts until then). */
  private async abortMultipart(key: string, uploadId: string | undefined): Promise<void> {
    if (uploadId === undefined) return;
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.cfg.bucket, Key: key, UploadId: uploadId }));
    } catch {
      // Best effort: the server may be the thing that failed. A bucket lifecycle rule
      // (AbortIncompleteMultipartUpload) cleans up what an unreachable server kept.
    }
  }

  async get(key: string, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.cfg.bucket, Key: this.keyOf(key) }),
        opts.signal ? { abortSignal: opts.signal } : {},
      );
      if (!(res.Body instanceof Readable)) throw new StoreError('S3 returned no readable body');
      return res.Body;
    } catch (err) {
      throw this.wrap(err, `reading ${this.location}${key}`);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const res = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.cfg.bucket,
            Prefix: this.root + prefix,
            ...(token !== undefined && { ContinuationToken: token }),
          }),
        );
        for (const o of res.Contents ?? []) {
          if (o.Key === undefined) continue;
          out.push({ key: o.Key.slice(this.root.length), size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) });
        }
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (err) {
      throw this.wrap(err, `listing ${this.location}${prefix}`);
    }
    return out;
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: this.keyOf(key) }));
    } catch (err) {
      throw this.wrap(err, `deleting ${this.location}${key}`);
    }
  }

  /** Checks that the bucket exists and the credentials work. */
  async probe(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.cfg.bucket }));
    } catch (err) {
      throw this.wrap(err, `opening ${this.location}`);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** Converts an SDK error into a StoreError that says what an operator should check. Never includes credentials. */
  private wrap(err: unknown, what: string): Error {
    if (err instanceof OperationError) return err;
    const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number; attempts?: number } };
    const name = e.name ?? 'Error';
    const status = e.$metadata?.httpStatusCode;
    let why: string;
    if (name === 'NoSuchBucket') why = `bucket "${this.cfg.bucket}" does not exist`;
    else if (name === 'NoSuchKey' || (name === 'NotFound' && status === 404)) why = 'no such object';
    else if (name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || status === 403 || name === 'AccessDenied') {
      why = 'access denied (check ACCESS_KEY_ID, SECRET_ACCESS_KEY and the bucket policy)';
    } else if (name === 'AbortError' || name === 'AbortedError') why = 'aborted';
    else if (name === 'CredentialsProviderError') why = 'no S3 credentials: set ACCESS_KEY_ID and SECRET_ACCESS_KEY';
    else if (status === undefined && NETWORK.test(`${e.code ?? ''} ${describeError(err)}`)) why = `the S3 server did not answer (${describeError(err)})`;
    else why = `${describeError(err)}${status ? ` (HTTP ${status})` : ''}`;
    const transient = TRANSIENT.has(name) || (status !== undefined && status >= 500) || NETWORK.test(`${e.code ?? ''} ${describeError(err)}`);
    const attempts = e.$metadata?.attempts ?? MAX_ATTEMPTS;
    return new StoreError(`${what}: ${why}${transient ? ` (gave up after ${attempts} attempts)` : ''}`, transient, { cause: err });
  }
}
