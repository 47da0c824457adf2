import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type GetObjectCommandOutput,
  type HeadObjectCommandOutput,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { OperationError, StoreError, describeError, type StoreFailure } from '../core/errors.js';
import type { StoreConfig } from '../config/types.js';
import { trackCleanup } from '../exit-cleanup.js';
import type { Logger } from '../log.js';
import { formatDuration } from '../core/duration.js';
import { DeadlineExceeded, credentialsProblem, isNetworkError, maybeMissingObject, shownEndpoint, statusOf, tlsProblem, type SdkError } from './s3-errors.js';
import { skipPayloadHashOverHttps } from './s3-payload-hash.js';
import { RereadingCaAgent } from './s3-ca.js';
import { noCredentialsText, rereadingCredentials, type RereadingCredentials } from './s3-credentials.js';
import { resumableBody } from './s3-download.js';
import { RetriesExhausted, S3Sender } from './s3-retry.js';
import { uploadStream, type UploadState } from './s3-multipart.js';
import type { GetOptions, ListOptions, ObjectInfo, Store } from './types.js';
import { isListedName, listedFolders } from './shown-names.js';
import { printable } from '../core/printable.js';

type S3Config = Extract<StoreConfig, { kind: 's3' }>;

const PART_SIZE = 8 * 1024 * 1024;
// Four parts in flight: s3rver (the slower side on two cores, busy on one part at a time) always has the next part
// waiting when etcd's stream stalls. 406 MB snapshot, 5 alternating runs: median 6.57 s with 2 in flight, 5.97 s with
// 3, 5.84 s with 4, no better with 6; parts of 5 or 16 MiB measured the same as 8. Memory: five 8 MiB part buffers,
// reused (see s3-multipart.ts).
const QUEUE_SIZE = 4;

/** How long the abort of a failed multipart upload may take, retries included. */
const ABORT_WITHIN_MS = 10_000;

/** An S3 (or S3-compatible) store. Multipart uploads are aborted on any failure, so no partial object remains. */
export class S3Store implements Store {
  readonly location: string;
  readonly s3Prefix: string;
  private readonly client: S3Client;
  private readonly sender: S3Sender;
  /** The AWS SDK's credentials chain when ACCESS_KEY_ID is unset (set by the SDK as the client is made). */
  private sdkCredentials?: RereadingCredentials;
  /** RS_S3_CA_CERT's CA, read again when the file changes (a rotated CA). */
  private readonly caAgent: RereadingCaAgent | undefined;
  private readonly root: string;
  private readonly log: Logger | undefined;

  constructor(
    private readonly cfg: S3Config,
    log?: Logger,
  ) {
    this.root = cfg.prefix === '' ? '' : `${cfg.prefix}/`;
    this.location = `s3://${cfg.bucket}/${cfg.prefix}`;
    this.s3Prefix = cfg.prefix;
    this.log = log?.child({ component: 'store' });
    // The SDK's own agent settings (keep-alive, its socket limit), trusting RS_S3_CA_CERT's CA in place of the system's.
    this.caAgent = cfg.caCertFile !== undefined ? new RereadingCaAgent({ keepAlive: true, maxSockets: 50 }, cfg, this.log) : undefined;
    this.client = new S3Client({
      region: cfg.region,
      forcePathStyle: cfg.forcePathStyle,
      // Retries are S3Sender's (a deadline per attempt, a window of time); the SDK's would multiply them.
      maxAttempts: 1,
      // The SDK's own messages (warnings of its HTTP handler, say) as log lines, never bare text on stderr.
      logger: sdkLogger(this.log),
      // Checksums only where S3 requires them: the SDK's default adds a CRC32 pass over every part, and some
      // S3-compatible servers reject its checksum headers. Bodies are checked by SigV4's payload hash over http,
      // and by TLS over https (see s3-payload-hash.ts).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      // No requestTimeout: in this SDK it only prints a warning. The deadline of every attempt is S3Sender's.
      requestHandler: {
        connectionTimeout: Math.min(10_000, cfg.requestTimeoutMs),
        logger: sdkLogger(this.log),
        ...(this.caAgent !== undefined && { httpsAgent: this.caAgent }),
      },
      ...(cfg.endpoint !== undefined && { endpoint: cfg.endpoint }),
      ...(cfg.accessKeyId !== undefined && cfg.secretAccessKey !== undefined
        ? { credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } }
        : {
            // The SDK's default chain, read again when its credentials have no expiry (a rotated credentials file).
            credentialDefaultProvider: (init: Parameters<typeof rereadingCredentials>[0]) => {
              this.sdkCredentials = rereadingCredentials(init);
              return this.sdkCredentials.provider;
            },
          }),
    });
    skipPayloadHashOverHttps(this.client);
    this.sender = new S3Sender(this.client, { requestTimeoutMs: cfg.requestTimeoutMs, windowMs: cfg.retryWindowMs }, this.log);
  }

  /** The object's address for messages: `s3://bucket/prefix/key`, as `aws s3 ls` takes it. */
  private where(key: string): string {
    return `s3://${this.cfg.bucket}/${this.root}${key}`;
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
    const aborted = () => new StoreError(`uploading ${this.where(key)}: aborted`);
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
      await uploadStream(this.sender, params, guarded(), { partSize: PART_SIZE, queueSize: QUEUE_SIZE, ...(signal && { signal }) }, state);
    } catch (err) {
      const e = this.wrap(err, `uploading ${this.where(key)}`);
      // With the error, so that whatever feeds the body reports why it stopped rather than a premature close.
      body.destroy(e);
      // Registered, so that an exit (a second signal) waits a moment for it.
      await trackCleanup(this.cleanUpFailed(params.Key, state));
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Leaves nothing of a failed upload: its multipart upload is aborted (S3 keeps and bills parts until then), and
   * the object is deleted when the request that makes it was sent (it may have been stored though the upload failed).
   * Never with the signal of the upload: an upload stopped by SIGTERM must still be cleaned up. But within a bound of
   * its own for each request: the server may be what failed, and a stopping pod has ~30 s before it is killed.
   */
  private async cleanUpFailed(key: string, state: UploadState): Promise<void> {
    const within = Math.min(ABORT_WITHIN_MS, this.cfg.retryWindowMs);
    if (state.uploadId !== undefined) await this.abortMultipart(key, state.uploadId, within);
    if (!state.objectMayExist) return;
    try {
      await this.sender.send(new DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: key }), 'DeleteObject', AbortSignal.timeout(within), within);
    } catch (err) {
      this.log?.warn(
        { key, err: describeError(err) },
        'could not delete the object of the failed upload (its last request may have stored it); retention removes it as an orphan',
      );
    }
  }

  private async abortMultipart(key: string, uploadId: string, within: number): Promise<void> {
    try {
      await this.sender.send(new AbortMultipartUploadCommand({ Bucket: this.cfg.bucket, Key: key, UploadId: uploadId }), 'AbortMultipartUpload', AbortSignal.timeout(within), within);
    } catch (err) {
      // The server may be the thing that failed. Its parts are not an object (nothing lists or restores them); a
      // bucket lifecycle rule (AbortIncompleteMultipartUpload) removes what an unreachable server kept.
      this.log?.warn({ key, uploadId, err: describeError(err) }, 'could not abort the failed multipart upload; its parts stay until a lifecycle rule removes them');
    }
  }

  async get(key: string, opts: GetOptions = {}): Promise<Readable> {
    try {
      const { range } = opts;
      const target = { bucket: this.cfg.bucket, key: this.keyOf(key), location: `${this.where(key)}`, ...(range && { range }) };
      const res = await this.sender.send<GetObjectCommandOutput>(
        new GetObjectCommand({ Bucket: target.bucket, Key: target.key, ...(range && { Range: `bytes=${range.start}-${range.end}` }) }),
        'GetObject',
        opts.signal,
      );
      if (!(res.Body instanceof Readable)) throw new StoreError('S3 returned no readable body');
      return resumableBody(this.sender, target, res, this.log, opts.signal);
    } catch (err) {
      throw this.wrap(err, `reading ${this.where(key)}`, 'object');
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    const pages = new ListingPages(this.server());
    let token: string | undefined;
    try {
      do {
        const res = await this.sender.send<ListObjectsV2CommandOutput>(
          new ListObjectsV2Command({
            Bucket: this.cfg.bucket,
            Prefix: this.root + prefix,
            // The folder's own files, as a local folder's readdir gives them: a cluster's folder can hold another
            // store's (RS_S3_PREFIX=prod with RS_CLUSTER_NAME=prod writes prod/prod/), whose manifests are not its own.
            Delimiter: '/',
            ...(opts.startAfter !== undefined && { StartAfter: this.root + opts.startAfter }),
            ...(token !== undefined && { ContinuationToken: token }),
          }),
          'ListObjectsV2',
          opts.signal,
          opts.retryWindowMs,
        );
        for (const o of res.Contents ?? []) {
          const name = o.Key === undefined ? undefined : this.listedName(o.Key, this.root + prefix, prefix);
          if (name === undefined || !isListedName(name)) continue;
          out.push({ key: prefix + name, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) });
        }
        token = pages.next(res, `listing ${this.where(prefix)}`);
      } while (token !== undefined);
    } catch (err) {
      throw this.wrap(err, `listing ${this.where(prefix)}`);
    }
    return out;
  }

  /** The S3 server, for messages that blame its replies: RS_S3_ENDPOINT=..., or AWS S3 and its region. */
  private server(): string {
    return shownEndpoint(this.cfg) ?? `AWS S3 (region ${this.cfg.region})`;
  }

  /**
   * The name, in the folder `under` (the listing's Prefix), of `key` as a listing of `under` with Delimiter '/' gave
   * it (a Contents key, or a CommonPrefix without its '/'); undefined for the folder's own marker, `.` and `..`, which
   * no backup or cluster is named and which anyone who can write the bucket can make. A key outside the folder, or
   * below it, no S3-compatible server lists there: one that does (a compromised or broken endpoint, a rewriting proxy)
   * fails the listing. Before, its name cut down to the folder's length was taken for a file of the folder: another
   * cluster's artifact for a leftover of this one's, which retention deleted.
   */
  private listedName(key: string, under: string, prefix: string): string | undefined {
    const name = key.slice(under.length);
    if (!key.startsWith(under) || name.includes('/')) {
      throw new StoreError(
        `listing ${this.where(prefix)}: the S3 server (${this.server()}) listed "${printable(key)}", which is not in the folder asked for; it is not S3-compatible here, and nothing it listed is used`,
      );
    }
    return name === '' || name === '.' || name === '..' ? undefined : name;
  }

  async stat(key: string, opts: { signal?: AbortSignal } = {}): Promise<ObjectInfo | undefined> {
    try {
      const res = await this.sender.send<HeadObjectCommandOutput>(new HeadObjectCommand({ Bucket: this.cfg.bucket, Key: this.keyOf(key) }), 'HeadObject', opts.signal);
      return { key, size: res.ContentLength ?? 0, lastModified: res.LastModified ?? new Date(0) };
    } catch (err) {
      const e = this.wrap(err, `reading ${this.where(key)}`, 'object');
      if (e instanceof StoreError && e.kind === 'not-found') return undefined;
      throw e;
    }
  }

  async folders(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const pages = new ListingPages(this.server());
    let token: string | undefined;
    const under = this.root + prefix;
    try {
      do {
        // With a delimiter S3 rolls every key below a folder into one CommonPrefix: a page per hundreds of folders,
        // not a page per thousand backups.
        const res = await this.sender.send<ListObjectsV2CommandOutput>(
          new ListObjectsV2Command({ Bucket: this.cfg.bucket, Prefix: under, Delimiter: '/', ...(token !== undefined && { ContinuationToken: token }) }),
          'ListObjectsV2',
        );
        for (const p of res.CommonPrefixes ?? []) {
          const name = p.Prefix === undefined ? undefined : this.listedName(p.Prefix.replace(/\/$/, ''), under, prefix);
          if (name !== undefined) out.push(name);
        }
        token = pages.next(res, `listing ${this.where(prefix)}`);
      } while (token !== undefined);
    } catch (err) {
      throw this.wrap(err, `listing ${this.where(prefix)}`);
    }
    return listedFolders(out.filter((f) => f.length > 0), this.where(prefix), this.log).sort();
  }

  async delete(key: string): Promise<undefined> {
    try {
      // S3 answers 204 whether the key was there or not: whose delete removed it cannot be told.
      await this.sender.send(new DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: this.keyOf(key) }), 'DeleteObject');
      return undefined;
    } catch (err) {
      throw this.wrap(err, `deleting ${this.where(key)}`);
    }
  }

  /** Checks that the bucket exists and the credentials work. */
  async probe(): Promise<void> {
    try {
      await this.sender.send(new HeadBucketCommand({ Bucket: this.cfg.bucket }), 'HeadBucket');
    } catch (err) {
      throw this.wrap(err, `opening ${this.location}`);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** That the bucket does not exist, and where it was looked for: the endpoint, or AWS S3's region. */
  private noBucket(): string {
    const { bucket, endpoint, region } = this.cfg;
    const shown = shownEndpoint(this.cfg);
    const path = endpoint === undefined ? '' : new URL(endpoint).pathname.replace(/\/+$/, '');
    const where = shown !== undefined ? `at ${shown}${path === '' ? '' : ` (requests go to ${path}/${bucket}/...)`}` : `in AWS S3 (region ${region})`;
    return `bucket "${bucket}" does not exist ${where}: check RS_S3_BUCKET${endpoint !== undefined ? ` and ${this.cfg.readFrom?.endpoint ?? 'RS_S3_ENDPOINT'}` : ' and RS_S3_REGION'}`;
  }

  /**
   * Converts an SDK error into a StoreError that says what an operator should check, and, for a request retried
   * until the window closed, how often and for how long. Never includes credentials.
   */
  private wrap(err: unknown, what: string, read?: 'object'): Error {
    if (err instanceof OperationError) return err;
    const exhausted = err instanceof RetriesExhausted ? err : undefined;
    const last = exhausted ? exhausted.last : err;
    if (last instanceof OperationError) return last;
    const e = last as SdkError;
    const name = e.name ?? 'Error';
    const status = statusOf(last);
    // A missing bucket is the configuration's fault, not a missing backup: never `not-found`.
    let why: string;
    let kind: StoreFailure = exhausted?.transient ? 'transient' : 'other';
    const { endpoint, caCertFile, readFrom, bucket } = this.cfg;
    const tls = tlsProblem(last, { endpoint, caCertFile, readFrom });
    const refused = credentialsProblem(last, { endpoint, readFrom, bucket, fromVariables: this.cfg.accessKeyId !== undefined });
    const region = bucketRegion(last);
    if (name === 'NoSuchBucket') [why, kind] = [this.noBucket(), 'no-bucket'];
    else if (region !== undefined && region !== this.cfg.region) why = `bucket "${this.cfg.bucket}" is in region ${region}, not ${this.cfg.region}: set RS_S3_REGION=${region}`;
    else if (name === 'NoSuchKey' || (name === 'NotFound' && status === 404)) [why, kind] = ['no such object', 'not-found'];
    else if (refused !== undefined) {
      // Only AccessDenied, or a HEAD's bare 403, may be a missing object: a refusal of the credentials says its reason.
      const maybeMissing = read === 'object' && maybeMissingObject(last);
      [why, kind] = [`${refused}${maybeMissing ? MAYBE_MISSING : ''}`, 'denied'];
      this.sdkCredentials?.reread();
    } else if (name === 'AbortError' || name === 'AbortedError') why = 'aborted';
    else if (name === 'CredentialsProviderError') [why, kind] = [noCredentialsText(), 'denied'];
    else if (tls !== undefined) {
      why = tls;
      this.caAgent?.reread();
    }
    else if (last instanceof DeadlineExceeded) why = `the S3 server did not answer within ${formatDuration(last.timeoutMs)}`;
    else if (isNetworkError(last)) why = `the S3 server did not answer (${describeError(last)})`;
    else why = `${describeError(last)}${status ? ` (HTTP ${status})` : ''}`;
    const limit = exhausted?.budget ? exhausted.budget.what : `RS_S3_RETRY_WINDOW is ${formatDuration(this.cfg.retryWindowMs)}`;
    const tries = exhausted?.transient
      ? ` (gave up after ${exhausted.attempts} attempt${exhausted.attempts === 1 ? '' : 's'} over ${formatDuration(exhausted.elapsedMs)}; ${limit})`
      : '';
    return new StoreError(`${what}: ${why}${tries}`, kind, { cause: last });
  }
}

/**
 * AWS S3 answers a request for an object that does not exist with 403, not 404, when the credentials may not list the
 * bucket: a restore-only credential meets a missing artifact as "access denied".
 */
const MAYBE_MISSING = '; or the object does not exist: without s3:ListBucket on the bucket, AWS S3 answers a missing object with 403 too';

/**
 * The region AWS names for the bucket when a request was signed for another (a 301 PermanentRedirect from another
 * region's endpoint, a 400 AuthorizationHeaderMalformed from the bucket's): its x-amz-bucket-region header, or the
 * <Region> of the error's body. Only a plain region name: the server's reply is printed.
 */
function bucketRegion(err: unknown): string | undefined {
  const e = err as { $response?: { headers?: Record<string, unknown> }; Region?: unknown } | null;
  const region = e?.$response?.headers?.['x-amz-bucket-region'] ?? e?.Region;
  return typeof region === 'string' && /^[a-z0-9][a-z0-9-]{0,62}$/.test(region) ? region : undefined;
}

/** The SDK's logger interface over pino: its warnings become log lines; its debug chatter stays at debug. */
function sdkLogger(log: Logger | undefined) {
  const l = log?.child({ sdk: 'aws-s3' });
  const text = (args: unknown[]) => args.map(sdkText).join(' ');
  return {
    trace: () => undefined,
    debug: (...args: unknown[]) => l?.debug({ detail: text(args) }, 'S3 SDK message'),
    info: (...args: unknown[]) => l?.debug({ detail: text(args) }, 'S3 SDK message'),
    warn: (...args: unknown[]) => l?.warn({ detail: text(args) }, 'S3 SDK warning'),
    // The SDK reports every failed command here; S3Sender logs each failure it retries and the final one is the
    // command's error, so these are details for debugging.
    error: (...args: unknown[]) => l?.debug({ detail: text(args) }, 'S3 SDK error'),
  };
}

/**
 * One argument of an SDK log call as text: its messages come as strings, as `{ commandName, error }` records, or as a
 * record of each command that succeeded, of which only the name and the response metadata are told (its input and
 * output may hold what must not be logged).
 */
function sdkText(a: unknown): string {
  if (typeof a === 'string') return a;
  if (a instanceof Error) return describeError(a);
  const r = a as { commandName?: unknown; error?: unknown; metadata?: { httpStatusCode?: unknown; attempts?: unknown } } | null;
  const name = r && typeof r === 'object' && typeof r.commandName === 'string' ? r.commandName : undefined;
  if (r && typeof r === 'object' && 'error' in r) return `${name !== undefined ? `${name}: ` : ''}${describeError(r.error)}`;
  if (name !== undefined) {
    const m = r!.metadata;
    const attempts = typeof m?.attempts === 'number' && m.attempts > 1 ? `, ${m.attempts} attempts` : '';
    return `${name}: done${typeof m?.httpStatusCode === 'number' ? ` (HTTP ${m.httpStatusCode}${attempts})` : ''}`;
  }
  return describeError(a);
}

/** Pages in a row with nothing in them, each with a new token, after which a listing is taken for one that never ends. */
const EMPTY_PAGES = 100;

/**
 * The continuation of a listing, checked so that a server whose pages do not add up fails it instead of looping for
 * ever (memory growing) or ending it short: IsTruncated without a token, the same token twice, pages that bring no
 * key past the ones already read (with a new token each time), or EMPTY_PAGES empty pages in a row.
 */
class ListingPages {
  private readonly seen = new Set<string>();
  private last = '';
  private empty = 0;

  /** `server`: the S3 server as messages name it (RS_S3_ENDPOINT=...). */
  constructor(private readonly server: string) {}

  /** The token of the next page, undefined after the last one. */
  next(res: ListObjectsV2CommandOutput, what: string): string | undefined {
    this.progress(res, what);
    if (res.IsTruncated !== true) return undefined;
    const token = res.NextContinuationToken;
    if (token === undefined || token === '') {
      throw new StoreError(`${what}: the S3 server (${this.server}) says the listing goes on (IsTruncated) but gives no NextContinuationToken to read the rest; it is not S3-compatible here`);
    }
    if (this.seen.has(token)) {
      throw new StoreError(`${what}: the S3 server (${this.server}) handed out the same NextContinuationToken twice, so the listing would never end; it is not S3-compatible here`);
    }
    this.seen.add(token);
    return token;
  }

  private progress(res: ListObjectsV2CommandOutput, what: string): void {
    const names = [...(res.Contents ?? []).map((o) => o.Key), ...(res.CommonPrefixes ?? []).map((p) => p.Prefix)].filter((k) => k !== undefined);
    if (names.length === 0) {
      if (res.IsTruncated === true && ++this.empty >= EMPTY_PAGES) {
        throw new StoreError(`${what}: the S3 server (${this.server}) sent ${EMPTY_PAGES} pages in a row with nothing in them, each saying the listing goes on, so it would never end; it is not S3-compatible here`);
      }
      return;
    }
    this.empty = 0;
    const greatest = names.reduce((a, b) => (b > a ? b : a));
    if (greatest <= this.last) {
      throw new StoreError(`${what}: the S3 server (${this.server}) sent a page whose keys all come at or before ones it had listed already (${JSON.stringify(greatest)}), with a new token, so the listing would never end; it is not S3-compatible here`);
    }
    this.last = greatest;
  }
}
