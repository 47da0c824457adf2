import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IntegrityError, OperationError, describeError } from '../core/errors.js';
import { trackTempPath } from '../exit-cleanup.js';
import { FileExistsError, publishFile } from '../publish-new.js';
import { BLOCK, tarEnd, tarPadding } from './tar.js';
import { tarHeaders } from './tar-header.js';

/**
 * A checkpoint archive as an OCI image (an `oci-archive` tar: `oci-layout`, `index.json`, `blobs/sha256/...`) that
 * `skopeo copy oci-archive:FILE docker://REGISTRY/NAME` pushes and CRI-O restores a container from: one uncompressed
 * layer whose bytes are the checkpoint archive itself (it is a tar, so it is a valid layer holding `checkpoint/`,
 * `config.dump`, `spec.dump`, ... at its root, where CRI-O looks for them), an image config naming that layer, and a
 * manifest annotated `io.kubernetes.cri-o.annotations.checkpoint.name=<container>`, the annotation CRI-O's
 * checkIfCheckpointOCIImage looks for (what `buildah config --annotation` puts in the manifest in the manual recipe).
 * The same annotations go on the index's descriptor too, where containerd's restore looks.
 */
export const CRIO_CHECKPOINT_ANNOTATION = 'io.kubernetes.cri-o.annotations.checkpoint.name';
export const OCI_REF_NAME = 'org.opencontainers.image.ref.name';
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar';
const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
/** The OCI image-spec grammar for `org.opencontainers.image.ref.name`. */
const REF_NAME_RE = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

export interface OciImageOptions {
  /** Bytes of the checkpoint archive (the tar header precedes the data, so it must be known up front). */
  layerSize: number;
  /** sha256 (hex) of the checkpoint archive when known: the stream is then checked against it. */
  layerDigest?: string;
  /** The container the checkpoint is of: the value of the CRI-O annotation. */
  container: string;
  /** `org.opencontainers.image.ref.name` in index.json (`--image-name`); skopeo's `oci-archive:FILE:NAME` selects it. */
  refName?: string;
  /** When the checkpoint was taken: the image's `created`, and every entry's mtime (the same input gives the same bytes). */
  created: Date;
  /** GOARCH of the node that took the checkpoint (amd64, arm64, ...): CRIU restores only on the same architecture. */
  architecture: string;
  /** More manifest annotations (e.g. checkpointAnnotations()). */
  annotations?: Record<string, string>;
  /** Sizes above this get a pax size header (ustar holds up to 8 GiB); tests lower it to exercise that path. */
  paxAbove?: number;
}

export interface OciImageResult {
  layerDigest: string;
  manifestDigest: string;
  /** Bytes of the oci-archive. */
  bytes: number;
}

/** Why `name` cannot be an image reference name, or undefined when it can. */
export function refNameProblem(name: string): string | undefined {
  if (name.length > 255) return 'is longer than 255 characters';
  return REF_NAME_RE.test(name) ? undefined : 'is not an image name (letters, digits, and . _ - : @ + / between them, e.g. registry.example.com/shop/web:ckpt-1)';
}

/** Node's `process.arch` as GOARCH, the names OCI image configs use. */
export function goArch(arch: string = process.arch): string {
  return ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' } as Record<string, string>)[arch] ?? arch;
}

/** The `org.criu.checkpoint.*` annotations (checkpointctl's names) for what is known of the checkpoint. */
export function checkpointAnnotations(c: { namespace?: string; pod?: string; container?: string; engine?: string; runtime?: string; rootfsImageName?: string; rootfsImageRef?: string }): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (k: string, v: string | undefined) => {
    if (v !== undefined && v !== '') out[`org.criu.checkpoint.${k}`] = v;
  };
  put('container.name', c.container);
  put('pod.name', c.pod);
  put('pod.namespace', c.namespace);
  put('engine.name', c.engine);
  put('runtime.name', c.runtime);
  put('rootfsImageName', c.rootfsImageName);
  put('rootfsImageID', c.rootfsImageRef);
  return out;
}

function check(opts: OciImageOptions): void {
  if (!Number.isSafeInteger(opts.layerSize) || opts.layerSize < 0) throw new RangeError(`layer size ${opts.layerSize} is not a size`);
  if (opts.layerDigest !== undefined && !/^[0-9a-f]{64}$/.test(opts.layerDigest)) throw new RangeError('layer digest must be 64 hex digits (sha256)');
  if (opts.refName !== undefined) {
    const problem = refNameProblem(opts.refName);
    if (problem) throw new RangeError(`image name ${JSON.stringify(opts.refName)} ${problem}`);
  }
  if (opts.container === '') throw new RangeError('the container name is empty');
  if (Number.isNaN(opts.created.getTime())) throw new RangeError('created is not a date');
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What the generator knows once the layer has passed: its digest and where its header sits (for patching). */
interface Progress {
  layerHeaderAt: number;
  layerDigest?: string;
  manifestDigest?: string;
  bytes: number;
}

/**
 * The archive's bytes in order: layout marker and folders, the layer (hashed and counted as it passes), then the
 * blobs that depend on its digest (config, manifest) and index.json. The layer's entry name holds its digest: when
 * `layerDigest` is not given the name is written as zeros for the caller to patch (see writeOciImageArchive).
 */
async function* archiveParts(layer: AsyncIterable<Buffer>, opts: OciImageOptions, progress: Progress): AsyncGenerator<Buffer> {
  const mtime = Math.floor(opts.created.getTime() / 1000);
  const emit = (b: Buffer) => {
    progress.bytes += b.length;
    return b;
  };
  const file = function* (name: string, data: Buffer) {
    for (const h of tarHeaders({ name, kind: 'file', size: data.length, mode: 0o644, mtime })) yield emit(h);
    yield emit(data);
    yield emit(tarPadding(data.length));
  };
  const dir = (name: string) => tarHeaders({ name, kind: 'directory', size: 0, mode: 0o755, mtime }).map(emit);

  yield* file('oci-layout', json({ imageLayoutVersion: '1.0.0' }));
  yield* dir('blobs/');
  yield* dir('blobs/sha256/');

  const headers = tarHeaders({ name: `blobs/sha256/${opts.layerDigest ?? '0'.repeat(64)}`, kind: 'file', size: opts.layerSize, mode: 0o644, mtime }, opts.paxAbove);
  for (let i = 0; i < headers.length; i++) {
    if (i === headers.length - 1) progress.layerHeaderAt = progress.bytes;
    yield emit(headers[i]!);
  }
  for await (const chunk of checkedLayer(layer, opts, progress)) yield emit(chunk);
  const layerDigest = progress.layerDigest!;
  yield emit(tarPadding(opts.layerSize));

  const blobs = imageBlobs(opts, layerDigest);
  progress.manifestDigest = blobs.manifestDigest;
  yield* file(`blobs/sha256/${blobs.configDigest}`, blobs.config);
  yield* file(`blobs/sha256/${blobs.manifestDigest}`, blobs.manifest);
  yield* file('index.json', blobs.index);
  yield emit(tarEnd());
}

/** The layer as it passes: exactly `layerSize` bytes, hashing to `layerDigest` when given; its digest into `progress`. */
async function* checkedLayer(layer: AsyncIterable<Buffer>, opts: OciImageOptions, progress: Progress): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let seen = 0;
  for await (const chunk of layer) {
    seen += chunk.length;
    if (seen > opts.layerSize) throw new IntegrityError('layer', `the checkpoint archive is longer than the ${opts.layerSize} bytes expected`);
    hash.update(chunk);
    yield chunk;
  }
  if (seen !== opts.layerSize) throw new IntegrityError('layer', `the checkpoint archive ended after ${seen} of ${opts.layerSize} bytes: cut short`);
  const layerDigest = hash.digest('hex');
  if (opts.layerDigest !== undefined && layerDigest !== opts.layerDigest) {
    throw new IntegrityError('layer', `the checkpoint archive hashes to ${layerDigest}, the backup says ${opts.layerDigest}`);
  }
  progress.layerDigest = layerDigest;
}

/** The image's config, manifest and index.json, which name the layer by its digest. */
function imageBlobs(opts: OciImageOptions, layerDigest: string) {
  const created = opts.created.toISOString();
  const config = json({
    created,
    architecture: opts.architecture,
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
    history: [{ created, created_by: 'reshifter restore --image-archive', comment: `container checkpoint of ${opts.container}` }],
  });
  const configDigest = sha256(config);
  const annotations = { ...opts.annotations, [CRIO_CHECKPOINT_ANNOTATION]: opts.container, 'org.opencontainers.image.created': created };
  const manifest = json({
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: { mediaType: CONFIG_TYPE, digest: `sha256:${configDigest}`, size: config.length },
    layers: [{ mediaType: LAYER_TYPE, digest: `sha256:${layerDigest}`, size: opts.layerSize }],
    annotations,
  });
  const manifestDigest = sha256(manifest);
  const index = json({
    schemaVersion: 2,
    mediaType: INDEX_TYPE,
    manifests: [
      {
        mediaType: MANIFEST_TYPE,
        digest: `sha256:${manifestDigest}`,
        size: manifest.length,
        annotations: { ...annotations, ...(opts.refName !== undefined && { [OCI_REF_NAME]: opts.refName }) },
      },
    ],
  });
  return { config, configDigest, manifest, manifestDigest, index };
}

/**
 * The oci-archive as a stream, for a checkpoint whose sha256 is known (a backup records it): one pass, memory
 * bounded by a few chunks. The stream fails with an IntegrityError when the layer's bytes are not the ones promised.
 */
export function ociImageArchive(layer: Readable, opts: OciImageOptions & { layerDigest: string }): Readable {
  check(opts);
  return Readable.from(archiveParts(layer, opts, { layerHeaderAt: 0, bytes: 0 }), { objectMode: false, highWaterMark: 1024 * 1024 });
}

/**
 * Writes the oci-archive to the new file `path` in one pass over the layer: into a temporary file next to it (removed
 * on failure, and by the exit hook when the process exits first: a second signal), fsynced, then linked into place
 * without replacing anything (a file made at `path` meanwhile is refused with FileExistsError, never overwritten), the
 * folder fsynced: a failed or interrupted write leaves no partial archive. Without `layerDigest`, the layer's entry is
 * written under a placeholder name and its header rewritten in place once the layer has been hashed.
 */
export async function writeOciImageArchive(path: string, layer: Readable, opts: OciImageOptions, signal?: AbortSignal): Promise<OciImageResult> {
  check(opts);
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const release = trackTempPath(tmp);
  const progress: Progress = { layerHeaderAt: 0, bytes: 0 };
  try {
    await pipeline(
      Readable.from(archiveParts(layer, opts, progress), { objectMode: false, highWaterMark: 1024 * 1024 }),
      createWriteStream(tmp, { flags: 'wx', mode: 0o600, highWaterMark: 1024 * 1024 }),
      signal ? { signal } : {},
    );
    const layerDigest = progress.layerDigest!;
    await finishFile(tmp, opts, layerDigest, progress.layerHeaderAt);
    if (!(await publishFile(tmp, path, true))) throw new FileExistsError(path);
    release();
    await syncFolder(dirname(path));
    return { layerDigest, manifestDigest: progress.manifestDigest!, bytes: progress.bytes };
  } catch (err) {
    // A temporary file that cannot be removed now stays registered: the exit hook tries again.
    await rm(tmp, { force: true }).then(release, () => undefined);
    // The file's own failures (a folder gone or closed meanwhile, a full disk) name the file: bare, an ENOENT of the
    // temporary name was said as an unexpected error. A failure of the layer's source, or a stop, is its own.
    if (err instanceof OperationError || (err as Error).name === 'AbortError' || typeof (err as NodeJS.ErrnoException).code !== 'string') throw err;
    throw new OperationError(`writing ${path}: ${describeError(err)}`, { cause: err });
  }
}

/** Patches the layer's header (when its digest was not known up front) and makes the temporary file durable. */
async function finishFile(tmp: string, opts: OciImageOptions, layerDigest: string, layerHeaderAt: number): Promise<void> {
  const fh = await open(tmp, 'r+');
  try {
    if (opts.layerDigest === undefined) {
      const mtime = Math.floor(opts.created.getTime() / 1000);
      const [header] = tarHeaders({ name: `blobs/sha256/${layerDigest}`, kind: 'file', size: opts.layerSize, mode: 0o644, mtime }, opts.paxAbove).slice(-1);
      await fh.write(header!, 0, BLOCK, layerHeaderAt);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncs a folder, so that a new name in it survives a crash. */
async function syncFolder(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
