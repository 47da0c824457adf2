import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IntegrityError, describeError } from '../core/errors.js';
import { TarWalker, type TarWalkEntry } from './tar-walk.js';
import type { Check } from './verify-artifact.js';

/**
 * A container checkpoint archive as CRI-O writes it for the kubelet's checkpoint API (and Podman for
 * `podman container checkpoint --export`): an uncompressed tar holding CRIU's image files under `checkpoint/`
 * (`inventory.img`, `core-*.img`, `pages-*.img`, ...), the container's `config.dump` (engine metadata: id, name,
 * image, runtime) and `spec.dump` (its OCI runtime spec, whose annotations name the pod, namespace and container),
 * and optionally `rootfs-diff.tar`, `deleted.files`, `bind.mounts`, `stats-dump`, `dump.log` and the container log.
 * Names as in checkpointctl's lib/metadata.go and CRI-O's internal/lib/checkpoint.go. Its content type in manifests
 * is CHECKPOINT_CONTENT_TYPE (core/content-type.ts).
 */

/** What the archive says about itself; every field from the archive is optional (hostile or foreign input). */
export interface CheckpointArchiveInfo {
  /** Entries in the archive, and files under `checkpoint/`. */
  entries: number;
  criuFiles: number;
  hasRootfsDiff: boolean;
  /** From spec.dump's annotations (CRI-O's `io.kubernetes.*`, or containerd's `io.kubernetes.cri.*`). */
  namespace?: string;
  pod?: string;
  container?: string;
  /** `io.container.manager` (CRI-O writes `cri-o`). */
  containerManager?: string;
  /** From config.dump. */
  containerId?: string;
  runtime?: string;
  rootfsImageName?: string;
  rootfsImageRef?: string;
  checkpointedAt?: string;
}

const MAX_CONFIG_DUMP = 1024 * 1024;
const MAX_SPEC_DUMP = 8 * 1024 * 1024;
/** Kubernetes names are at most 253 characters; longer strings from the archive are not kept. */
const MAX_FIELD = 253;

/** `./checkpoint/x` and `checkpoint/x` are the same entry; a directory's trailing `/` is dropped. */
function normalize(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

function unsafe(name: string): boolean {
  return name.startsWith('/') || name.split('/').includes('..');
}

/** An error's message without IntegrityError's `check: ` prefix (the check has its own name here). */
function reason(err: unknown): string {
  return err instanceof IntegrityError ? err.message.slice(err.check.length + 2) : describeError(err);
}

function field(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_FIELD && !/[\u0000-\u001f]/.test(v) ? v : undefined;
}

/** Collects an entry's data up to `limit` bytes; past it, only counts. */
class Capture {
  parts: Buffer[] = [];
  bytes = 0;
  constructor(readonly limit: number) {}
  add(piece: Buffer): void {
    this.bytes += piece.length;
    if (this.bytes <= this.limit) this.parts.push(Buffer.from(piece));
  }
  json(): Record<string, unknown> | string {
    if (this.bytes > this.limit) return `is ${this.bytes} bytes, more than the ${this.limit} a container's metadata takes`;
    let v: unknown;
    try {
      v = JSON.parse(Buffer.concat(this.parts).toString('utf8'));
    } catch (err) {
      return `is not JSON (${describeError(err)})`;
    }
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : 'is not a JSON object';
  }
}

/**
 * Reads a checkpoint archive as it streams by (a pass-through Transform, so a backup can check what it stores in the
 * same pass) and judges its layout when it ends. `checks()` gives the results in verify's Check shape: the tar itself,
 * `checkpoint/` with CRIU's `inventory.img`, `config.dump` and `spec.dump` (present, JSON objects), and that no entry
 * names a path outside the archive. When a check fails the stream ends with an IntegrityError (`content`) naming every
 * failure, so it plugs into verify's CONTENT_CHECKS as is. Memory holds the two dump files at most.
 */
export class CheckpointArchiveCheck extends Transform {
  readonly info: CheckpointArchiveInfo = { entries: 0, criuFiles: 0, hasRootfsDiff: false };
  private readonly walker: TarWalker;
  private tarError?: string;
  private hasCheckpointDir = false;
  private hasInventory = false;
  private readonly unsafeNames: string[] = [];
  private config?: Capture;
  private spec?: Capture;
  private capturing?: Capture;
  private result?: Check[];
  private ended = false;

  constructor() {
    super();
    this.walker = new TarWalker({
      entry: (e) => this.onEntry(e),
      data: (_e, piece) => this.capturing?.add(piece),
      done: () => {
        this.capturing = undefined;
      },
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.tarError === undefined) {
      try {
        this.walker.write(chunk);
      } catch (err) {
        this.tarError = reason(err);
      }
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.ended = true;
    if (this.tarError === undefined) {
      try {
        this.walker.end();
      } catch (err) {
        this.tarError = reason(err);
      }
    }
    const failed = this.checks().filter((c) => !c.ok);
    cb(failed.length === 0 ? null : new IntegrityError('content', `container checkpoint: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}`));
  }

  /** The layout checks; final once the stream has ended (before that, what the bytes so far show). */
  checks(): Check[] {
    if (this.result) return this.result;
    const config = this.config?.json();
    const spec = this.spec?.json();
    if (typeof config === 'object') this.takeConfig(config);
    if (typeof spec === 'object') this.takeSpec(spec);
    const i = this.info;
    const checks: Check[] = [
      this.tarError === undefined
        ? { name: 'tar', ok: true, detail: `${this.walker.entries} entries, ${this.walker.offset} bytes` }
        : { name: 'tar', ok: false, detail: this.tarError },
      {
        name: 'checkpoint/',
        ok: this.hasInventory,
        detail: !this.hasCheckpointDir && i.criuFiles === 0
          ? 'missing: the archive holds no CRIU images (checkpoint/), so it is not a container checkpoint'
          : this.hasInventory
            ? `${i.criuFiles} CRIU image files`
            : `${i.criuFiles} files, but no checkpoint/inventory.img (CRIU cannot restore without it)`,
      },
      dumpCheck('config.dump', config),
      dumpCheck('spec.dump', spec),
      {
        name: 'names',
        ok: this.unsafeNames.length === 0,
        detail: this.unsafeNames.length === 0 ? 'all relative' : `entries name paths outside the archive: ${this.unsafeNames.slice(0, 3).map((n) => JSON.stringify(n)).join(', ')}`,
      },
    ];
    if (this.ended) this.result = checks;
    return checks;
  }

  private onEntry(e: TarWalkEntry): void {
    this.info.entries++;
    if (unsafe(e.name)) this.unsafeNames.push(e.name);
    const name = normalize(e.name);
    this.capturing = undefined;
    if (name === 'checkpoint' && e.kind === 'directory') this.hasCheckpointDir = true;
    else if (name.startsWith('checkpoint/')) {
      this.hasCheckpointDir = true;
      if (e.kind === 'file') this.info.criuFiles++;
      if (name === 'checkpoint/inventory.img' && e.kind === 'file') this.hasInventory = true;
    } else if (e.kind === 'file' && name === 'config.dump') this.capturing = this.config = new Capture(MAX_CONFIG_DUMP);
    else if (e.kind === 'file' && name === 'spec.dump') this.capturing = this.spec = new Capture(MAX_SPEC_DUMP);
    else if (e.kind === 'file' && name === 'rootfs-diff.tar') this.info.hasRootfsDiff = true;
  }

  private takeConfig(c: Record<string, unknown>): void {
    const set = <K extends keyof CheckpointArchiveInfo>(k: K, v: unknown) => {
      const s = field(v);
      if (s !== undefined) (this.info as unknown as Record<string, string>)[k] = s;
    };
    set('containerId', c.id);
    set('runtime', c.runtime);
    set('rootfsImageName', c.rootfsImageName);
    set('rootfsImageRef', c.rootfsImageRef);
    set('checkpointedAt', c.checkpointedTime);
  }

  private takeSpec(s: Record<string, unknown>): void {
    const a = s.annotations;
    if (typeof a !== 'object' || a === null || Array.isArray(a)) return;
    const ann = a as Record<string, unknown>;
    const first = (...keys: string[]) => keys.map((k) => field(ann[k])).find((v) => v !== undefined);
    const namespace = first('io.kubernetes.pod.namespace', 'io.kubernetes.cri.sandbox-namespace');
    const pod = first('io.kubernetes.pod.name', 'io.kubernetes.cri.sandbox-name');
    const container = first('io.kubernetes.container.name', 'io.kubernetes.cri.container-name');
    const manager = first('io.container.manager');
    if (namespace !== undefined) this.info.namespace = namespace;
    if (pod !== undefined) this.info.pod = pod;
    if (container !== undefined) this.info.container = container;
    if (manager !== undefined) this.info.containerManager = manager;
  }
}

function dumpCheck(name: string, parsed: Record<string, unknown> | string | undefined): Check {
  if (parsed === undefined) return { name, ok: false, detail: 'missing' };
  if (typeof parsed === 'string') return { name, ok: false, detail: `${name} ${parsed}` };
  return { name, ok: true, detail: 'a JSON object' };
}

/** Reads a whole checkpoint archive and returns its layout checks and what it says about itself. */
export async function checkCheckpointArchive(stream: Readable, signal?: AbortSignal): Promise<{ checks: Check[]; info: CheckpointArchiveInfo }> {
  const check = new CheckpointArchiveCheck();
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  await pipeline(stream, check, sink, signal ? { signal } : {}).catch((err: unknown) => {
    // A layout failure is reported through checks(); anything else (the source failed) is the caller's error.
    if (!(err instanceof IntegrityError)) throw err;
  });
  return { checks: check.checks(), info: check.info };
}

/**
 * Why an archive does not belong to the container it was asked for, when spec.dump names another one; undefined when
 * it matches or says nothing. A kubelet that answers with the wrong file must not be stored under this name.
 */
export function checkpointMismatch(info: CheckpointArchiveInfo, want: { namespace: string; pod: string; container: string }): string | undefined {
  const got = [info.namespace, info.pod, info.container];
  const expected = [want.namespace, want.pod, want.container];
  if (got.every((v, i) => v === undefined || v === expected[i])) return undefined;
  return `the archive is a checkpoint of ${got.map((v) => v ?? '?').join('/')}, not of ${expected.join('/')}`;
}
