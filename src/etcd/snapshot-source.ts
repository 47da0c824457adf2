import type { Readable } from 'node:stream';
import { castGrpcError } from 'etcd3';
import { SnapshotTrailerCheck } from '../archive/snapshot-trailer.js';
import type { EtcdConfig } from '../config/types.js';
import { SNAPSHOT_CONTENT_TYPE } from '../core/content-type.js';
import { AbortedError, EtcdError, IntegrityError, describeError } from '../core/errors.js';
import type { Logger } from '../log.js';
import { currentMember, type CurrentMember } from './current-member.js';
import { toEtcdError } from './errors.js';
import { isTransient } from './fault-handling.js';
import { openSnapshotStream } from './snapshot-stream.js';
import { variableOf } from './tls-check.js';
import type { BackupSource } from './source.js';

/**
 * The `snapshot` strategy: etcd's own Maintenance.Snapshot, checked against its sha256 trailer on the way. The
 * snapshot is taken of one member that is current with its cluster (current-member.ts: a member cut off from the
 * others would give the data it had when it lost contact), and its revision is that of a linearizable read through
 * that same member just before the stream opens (etcd 3.4 sends none with the stream): the snapshot holds at least it.
 * With several endpoints, a stream that breaks mid-way (the member died, restarted) can be taken again from the start
 * of another current member, once per member: see `again`.
 */
export async function snapshotSource(cfg: EtcdConfig, log: Logger): Promise<BackupSource> {
  return memberSource(cfg, log, { tried: new Set(), broken: [] });
}

/** The members a backup has taken (or tried to take) its snapshot of, and those whose stream broke, with why. */
interface Attempts {
  tried: Set<string>;
  broken: string[];
}

async function memberSource(cfg: EtcdConfig, log: Logger, attempts: Attempts): Promise<BackupSource> {
  const { member, grpc } = await openCurrentSnapshot(cfg, log, attempts);
  const check = new SnapshotTrailerCheck();
  // The error a stream that broke mid-way with a passing error (the member died or restarted) failed the bytes with.
  let broken: Error | undefined;
  grpc.on('error', (err) => {
    const error = toEtcdError(err, 'streaming the snapshot', { ...cfg, endpoints: [member.endpoint] });
    if (!check.destroyed && isTransient(castGrpcError(err))) broken = error;
    check.destroy(error);
  });
  // pipe() never passes a destroy upstream: a backup that gave up (SIGTERM) would leave the gRPC stream open, and the
  // process waiting on it until cli-main.ts's safety timer. Closing the bytes cancels the call.
  check.on('close', () => {
    grpc.destroy();
    member.client.close();
  });
  // A member (or a proxy before it) that closed the stream early without an error: what came is no whole snapshot
  // (the trailer check fails it), but another member's may be. The failure the bytes end with, and the reason said.
  let short: { err: unknown; why: EtcdError } | undefined;
  check.on('error', (err) => {
    if (broken !== undefined || !grpc.readableEnded || !(err instanceof IntegrityError) || err.check !== 'trailer') return;
    short = { err, why: new EtcdError(`its stream ended after ${check.bytes} bytes without an error, short of a whole snapshot (${err.message})`) };
  });
  const ended = new Promise<void>((resolve, reject) => {
    check.on('end', resolve);
    check.on('error', reject);
    check.on('close', () => reject(new Error('snapshot stream closed before it ended')));
  });
  ended.catch(() => undefined);
  return {
    contentType: SNAPSHOT_CONTENT_TYPE,
    format: 'snapshot.db',
    stream: grpc.pipe(check),
    // The database file is what the stream sends (plus a 32-byte sha256); it may change a little meanwhile.
    expectedBytes: member.dbSize,
    contentSha256: () => check.fullDigest(),
    async facts() {
      await ended;
      return { etcdVersion: member.version, revision: member.revision, apiVersion: 'v3' };
    },
    // A single endpoint has no other member to turn to: its broken stream fails the backup, as it always did.
    ...(cfg.endpoints.length > 1 && {
      again: async (err: unknown) => {
        const why = broken !== undefined && err === broken ? broken : short !== undefined && err === short.err ? short.why : undefined;
        if (why === undefined) return undefined;
        attempts.broken.push(`${member.endpoint} (${describeError(why)})`);
        if (attempts.tried.size >= cfg.endpoints.length) throw brokenEverywhere(cfg, attempts);
        log.warn({ endpoint: member.endpoint, err: describeError(why) }, `the snapshot stream of ${member.endpoint} broke mid-way: taking the snapshot again, from the start, of another member`);
        return memberSource(cfg, log, attempts).catch((e: unknown) => {
          throw e instanceof EtcdError && !(e instanceof AbortedError) ? brokenEverywhere(cfg, attempts, e) : e;
        });
      },
    }),
  };
}

/** Every member's stream broke mid-way (or, `rest`, the members left could not give one): each is named. */
function brokenEverywhere(cfg: EtcdConfig, attempts: Attempts, rest?: EtcdError): EtcdError {
  const each = attempts.broken.join('; ');
  if (rest === undefined) return new EtcdError(`the snapshot stream broke mid-way on every member of ${variableOf(cfg, 'endpoints')}: ${each}; nothing was stored`);
  return new EtcdError(`the snapshot stream broke mid-way on ${each}, and no other member gave one: ${describeError(rest)}; nothing was stored`, { cause: rest });
}

/**
 * The snapshot stream of a current member, once its first bytes came. A member whose stream fails before that with a
 * passing error (it died just now) is left for the next current one, once per endpoint at most: nothing was read yet.
 */
async function openCurrentSnapshot(cfg: EtcdConfig, log: Logger, attempts: Attempts): Promise<{ member: CurrentMember; grpc: Readable }> {
  const { tried } = attempts;
  for (;;) {
    const member = await currentMember(cfg, tried, (p) =>
      log.warn({ endpoint: p.endpoint, err: describeError(p.error) }, `snapshot not taken of ${p.endpoint}: it ${p.reason}`),
    );
    tried.add(member.endpoint);
    try {
      const grpc = await openSnapshotStream(member.client);
      log.info({ endpoint: member.endpoint, revision: member.revision }, `taking the snapshot of ${member.endpoint}`);
      return { member, grpc };
    } catch (err) {
      member.client.close();
      const failed = castGrpcError(err as Error);
      if (!isTransient(failed) || tried.size >= cfg.endpoints.length) throw toEtcdError(failed, 'opening the snapshot stream', { ...cfg, endpoints: [member.endpoint] });
      log.warn({ endpoint: member.endpoint, err: describeError(failed) }, `the snapshot stream of ${member.endpoint} failed before its first byte: trying another member`);
    }
  }
}
