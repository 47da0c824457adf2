import { isDeltaManifest, type DeltaManifest, type Manifest } from '../archive/manifest.js';
import { validateChain } from '../core/delta-chain.js';
import { OperationError } from '../core/errors.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { OpContext } from './context.js';
import { verifyBackup, type VerifyResult } from './verify.js';

/** What `verify <base-id> --chain` found. */
export interface ChainVerifyResult {
  /** The full backup the chain starts from. */
  base: string;
  ok: boolean;
  /** The base's own checks, then each segment's, in revision order. */
  backups: Array<VerifyResult & { fromRevision?: number; toRevision?: number }>;
  /** Gaps, overlaps and a wrong start, in an operator's words (validateChain). */
  problems: string[];
  /** Every revision from the base's to this one can be restored. */
  coveredTo: number;
  segments: number;
  events: number;
}

/**
 * Checks a whole chain: the full backup and every segment of it against their manifests (size, sha256, decoding,
 * content), and that the segments follow each other from the base's revision + 1 without gap or overlap. `m` may be
 * the base or one of its segments. Resolves with what it found; a failure is a result, not an error.
 */
export async function verifyChain(ctx: OpContext, repo: BackupRepository, m: Manifest): Promise<ChainVerifyResult> {
  const { backups } = await repo.list();
  const baseId = isDeltaManifest(m) ? m.base : m.id;
  const base = backups.find((b) => b.id === baseId && !isDeltaManifest(b));
  if (base === undefined) throw new OperationError(`segment ${m.id} belongs to the chain of ${baseId}, which is not in ${repo.store.location}: its chain cannot be restored`);
  const segments = backups.filter((b): b is DeltaManifest => isDeltaManifest(b) && b.base === base.id);
  const chain = validateChain({ id: base.id, createdAt: base.createdAt, revision: base.etcd.revision }, segments);
  const results: ChainVerifyResult['backups'] = [await verifyBackup(ctx, repo, base)];
  for (const s of chain.segments) results.push({ ...(await verifyBackup(ctx, repo, s)), fromRevision: s.fromRevision, toRevision: s.toRevision });
  return {
    base: base.id,
    ok: chain.problems.length === 0 && results.every((r) => r.ok),
    backups: results,
    problems: chain.problems,
    coveredTo: chain.coveredTo,
    segments: segments.length,
    events: segments.reduce((n, s) => n + s.events, 0),
  };
}
