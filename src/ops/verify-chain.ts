import { etcdOf, isDeltaManifest, type DeltaManifest, type Manifest } from '../archive/manifest.js';
import { kindOf, newerKindText } from '../core/backup-kind.js';
import { counted } from '../core/counted.js';
import { validateChain } from '../core/delta-chain.js';
import { OperationError, RefusedError, StoreError, describeError } from '../core/errors.js';
import { USES, canUse, newestFirst } from '../core/latest.js';
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
  /** Gaps and a wrong start, in an operator's words (validateChain). */
  problems: string[];
  /** Segments that repeat revisions others hold (two recorders at once), skipped or used from where the others end. */
  notes: string[];
  /** Every revision from the base's to this one can be restored: before the first gap and the first segment that fails. */
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
  // A render listing or a container checkpoint starts no chain: its 'ok' would say revisions are restorable that are not.
  if (kindOf(base.contentType) === 'other') throw new RefusedError(newerKindText(base));
  if (!canUse(USES.verifyChain, base)) throw new OperationError(`backup ${base.id} is a ${kindOf(base.contentType)}, which starts no chain of changes: verify it without --chain`);
  const segments = backups.filter((b): b is DeltaManifest => isDeltaManifest(b) && b.base === base.id);
  const chain = validateChain({ id: base.id, createdAt: base.createdAt, revision: etcdOf(base).revision }, segments);
  const results: ChainVerifyResult['backups'] = [await verifyOrMissing(ctx, repo, base)];
  for (const s of chain.segments) results.push({ ...(await verifyOrMissing(ctx, repo, s)), fromRevision: s.fromRevision, toRevision: s.toRevision });
  // A restore refuses a segment that fails its checks: the chain is restorable only up to the first such one it uses.
  const failed = chain.covered.find((s) => results.some((r) => r.id === s.id && !r.ok));
  const coveredTo = !results[0]!.ok ? etcdOf(base).revision : failed !== undefined ? Math.min(chain.coveredTo, failed.fromRevision - 1) : chain.coveredTo;
  return {
    base: base.id,
    ok: chain.problems.length === 0 && results.every((r) => r.ok),
    backups: results,
    problems: chain.problems,
    notes: chain.notes,
    coveredTo,
    segments: segments.length,
    events: segments.reduce((n, s) => n + s.events, 0),
  };
}

/** verifyBackup, with an artifact the store no longer holds reported as a failed check rather than thrown. */
async function verifyOrMissing(ctx: OpContext, repo: BackupRepository, m: Manifest): Promise<VerifyResult> {
  try {
    return await verifyBackup(ctx, repo, m);
  } catch (err) {
    if (!(err instanceof StoreError && err.kind === 'not-found')) throw err;
    return { id: m.id, ok: false, checks: [{ name: 'present', ok: false, detail: `its artifact ${m.artifact} is not in the store (${describeError(err)})` }] };
  }
}

/**
 * `verify latest --chain` whose `latest` is a full backup that `run` is not recording onto: the hourly `filter:`
 * CronJob's dump taken after the last segment, whose chain is that dump alone. Names what was checked and the chain
 * the newest segment belongs to, with the command that checks it; undefined when `m` is a segment, or its chain is
 * that one, or the store holds no segment whose full backup it holds.
 */
export async function recordedChainNote(repo: BackupRepository, m: Manifest): Promise<string | undefined> {
  if (isDeltaManifest(m)) return undefined;
  const { backups } = await repo.list();
  const full = new Set(backups.filter((b) => !isDeltaManifest(b)).map((b) => b.id));
  const newest = backups.filter((b): b is DeltaManifest => isDeltaManifest(b) && full.has(b.base)).sort(newestFirst)[0];
  if (newest === undefined || newest.base === m.id) return undefined;
  const own = backups.filter((b) => isDeltaManifest(b) && b.base === m.id).length;
  const filtered = m.strategy.startsWith('filter:') ? ', which holds only the resources its filter selected' : '';
  return (
    `"latest" is ${kindOf(m.contentType)} ${m.id} (${m.strategy}, taken ${m.createdAt})${filtered}: its chain of ${counted(own, 'segment')} is what was checked; ` +
    `the chain being recorded is that of ${newest.base}, whose newest segment ${newest.id} records changes up to revision ${newest.toRevision}: "reshifter verify ${newest.base} --chain" checks it`
  );
}
