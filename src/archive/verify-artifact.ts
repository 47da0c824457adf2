import { Writable, type Duplex, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CHECKPOINT_CONTENT_TYPE, DELTA_CONTENT_TYPE, KEY_DUMP_CONTENT_TYPE, RENDER_CONTENT_TYPE, SNAPSHOT_CONTENT_TYPE } from '../core/content-type.js';
import { IntegrityError, describeError } from '../core/errors.js';
import { decoders, type CodecKeys } from './codec.js';
import type { Check } from './check.js';
import { CheckpointArchiveCheck } from './checkpoint-archive.js';
import { DeltaSegmentCheck, type SegmentExpectations } from './delta-segment-reader.js';
import { ByteCounter, HashCounter } from './hash-counter.js';
import { KeyDumpCheck } from './key-dump-reader.js';
import type { DeltaManifest, Manifest } from './manifest.js';
import { RenderListingCheck } from './render-listing.js';
import { SnapshotTrailerCheck } from './snapshot-trailer.js';

export type { Check } from './check.js';

/** Content checks by manifest contentType; key dumps and listings register theirs here. */
export const CONTENT_CHECKS: Record<string, (m: Manifest) => Duplex> = {
  [SNAPSHOT_CONTENT_TYPE]: () => new SnapshotTrailerCheck(),
  [KEY_DUMP_CONTENT_TYPE]: () => new KeyDumpCheck(),
  [RENDER_CONTENT_TYPE]: () => new RenderListingCheck(),
  // The archive's layout: CRIU's checkpoint/ with inventory.img, config.dump and spec.dump, no path outside it.
  [CHECKPOINT_CONTENT_TYPE]: () => new CheckpointArchiveCheck(),
  // A segment is held to what its manifest says: its chain, cluster, revision range and count of changes.
  [DELTA_CONTENT_TYPE]: (m) => new DeltaSegmentCheck(segmentExpectations(m)),
};

/** What a delta segment's artifact must match of its manifest. */
function segmentExpectations(m: Manifest): SegmentExpectations {
  const d = m as Partial<DeltaManifest>;
  return {
    cluster: m.cluster,
    ...(d.base !== undefined && { base: d.base }),
    ...(d.fromRevision !== undefined && { fromRevision: d.fromRevision }),
    ...(d.toRevision !== undefined && { toRevision: d.toRevision }),
    ...(d.events !== undefined && { events: d.events }),
  };
}

/** The decode chain of an artifact (decoders, counter, content check) and what stopped it, if anything did. */
function decodeChain(m: Manifest, keys: CodecKeys, decoded: ByteCounter) {
  let decodeError: unknown;
  let done: Promise<void> = Promise.resolve();
  let head: Writable | undefined;
  try {
    const steps = [...decoders(m, keys), decoded, ...(CONTENT_CHECKS[m.contentType] ? [CONTENT_CHECKS[m.contentType]!(m)] : [])];
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    head = steps[0]!;
    done = pipeline([...steps, sink] as unknown as [Duplex, Writable]).catch((err: unknown) => {
      decodeError ??= err;
    });
  } catch (err) {
    decodeError = err;
  }
  return {
    head,
    done,
    error: () => decodeError,
    /** Feeds the decode chain while it works, and drops the rest once it has failed. */
    feeder: () =>
      new Writable({
        highWaterMark: 1024 * 1024,
        write(chunk: Buffer, _enc, cb) {
          if (decodeError !== undefined || !head || head.destroyed) return cb();
          if (head.write(chunk)) return cb();
          const go = () => {
            head!.off('drain', go);
            head!.off('close', go);
            cb();
          };
          head.on('drain', go);
          head.on('close', go);
        },
        final(cb) {
          if (head && !head.destroyed) head.end();
          cb();
        },
      }),
  };
}

/**
 * Reads a stored artifact once and checks it against its manifest: stored size and sha256, that it decrypts and
 * decompresses, the decoded size, and the content's own integrity (etcd's trailer for snapshots). The stored-bytes
 * checks always run to the end, even when decoding fails early, so a corrupt file is reported as a sha256 mismatch
 * rather than only as whatever the decoder tripped over first.
 */
export async function verifyArtifact(stored: Readable, m: Manifest, keys: CodecKeys, signal?: AbortSignal): Promise<Check[]> {
  const hash = new HashCounter();
  const decoded = new ByteCounter();
  const chain = decodeChain(m, keys, decoded);
  const feeder = chain.feeder();
  let readError: unknown;
  await pipeline(stored, hash, feeder, signal ? { signal } : {}).catch((err: unknown) => {
    readError = err;
    // Nothing will end the decode chain now: stop it, or waiting for it below would wait forever.
    chain.head?.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  await chain.done;
  const decodeError = chain.error();
  if (readError !== undefined) {
    return [{ name: 'read', ok: false, detail: `could not read the stored artifact: ${describeError(readError)}` }];
  }
  const checks: Check[] = [
    { name: 'size', ok: hash.bytes === m.sizeBytes, detail: `${hash.bytes} bytes stored, manifest says ${m.sizeBytes}` },
    { name: 'sha256', ok: hash.digest() === m.sha256, detail: hash.digest() === m.sha256 ? m.sha256 : `stored bytes hash to ${hash.digest()}, manifest says ${m.sha256}` },
  ];
  const decodeStep = [m.encryption === 'age' ? 'decrypt' : '', m.compression !== 'none' ? 'decompress' : ''].filter(Boolean).join('+') || 'decode';
  if (decodeError !== undefined) {
    const name = decodeError instanceof IntegrityError ? decodeError.check : decodeStep;
    // The check is the line's name; the detail is what failed, without the name again.
    const detail = decodeError instanceof IntegrityError ? describeError(decodeError).replace(`${name}: `, '') : describeError(decodeError);
    checks.push({ name, ok: false, detail });
    return checks;
  }
  checks.push({ name: decodeStep, ok: true, detail: 'ok' });
  checks.push({ name: 'raw-size', ok: decoded.bytes === m.rawSizeBytes, detail: `${decoded.bytes} bytes decoded, manifest says ${m.rawSizeBytes}` });
  if (CONTENT_CHECKS[m.contentType]) checks.push({ name: 'content', ok: true, detail: `${m.contentType} ok` });
  // Said, not passed over: a verify that names no content check reads as one that checked everything.
  else {
    const detail = `not checked: content type "${m.contentType}" is not one this version of reshifter knows (a newer version wrote it?): only its stored bytes are checked`;
    checks.push({ name: 'content', ok: true, skipped: true, detail });
  }
  return checks;
}
