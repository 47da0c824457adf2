import type { Readable } from 'node:stream';
import type { Manifest } from '../../archive/manifest.js';
import type { ClusterSummary } from '../../ops/clusters.js';
import type { DeleteOptions, DeleteResult } from '../../ops/delete.js';
import type { ChainView } from '../../ops/delta-chains.js';
import type { ListedBackup } from '../../ops/list.js';
import type { BackupDiff } from '../../ops/diff.js';
import type { PointResolution } from '../../ops/restore-point.js';
import type { VerifyResult } from '../../ops/verify.js';
import type { JobContext, JobQueue } from '../../core/jobs.js';
import type { BackupUse } from '../../core/latest.js';
import type { StrategySpec } from '../../core/strategy.js';
import type { Logger } from '../../log.js';
import type { ByteRange } from './byte-range.js';

/** The body of `POST /api/v1/restores`. */
export interface RestoreRequest {
  backupId: string;
  /** With backupId `latest`: the series it is taken from. */
  strategy?: string;
  dryRun?: boolean;
  includeNamespaces?: string[];
  excludeNamespaces?: string[];
  includeResources?: string[];
  excludeResources?: string[];
  skipExisting?: boolean;
  /** Restore to a point: a revision, an RFC 3339 time or `latest`, over the changes recorded after the backup. */
  to?: string;
}

export type { BackupDiff, VerifyResult };

/**
 * What the API does, behind one interface: the handlers only parse, authorize and answer; the work is here (real:
 * `createApiServices`, which calls the same operations as the CLI's commands).
 */
export interface ApiServices {
  /** As `reshifter version --json`: `commit` only when the build knew it. */
  version(): { version: string; commit?: string; node: string };
  explore(signal: AbortSignal): Promise<unknown>;
  /** Keys and bytes per prefix, resource, namespace and encoding of the live etcd. */
  liveStats(signal: AbortSignal): Promise<unknown>;
  backupStats(m: Manifest, signal: AbortSignal): Promise<unknown>;
  /** Manifests, newest first. */
  listBackups(): Promise<ListedBackup[]>;
  /** Every cluster of the store with its newest backup (as `list --all-clusters`). */
  listClusters(): Promise<ClusterSummary[]>;
  /**
   * The manifest of backup `id`; `latest` is the newest backup `use` can read (of `series`, when given). Throws
   * NotFoundError when there is none.
   */
  getBackup(id: string, use: BackupUse, series?: string): Promise<Manifest>;
  /**
   * getBackup for a restore, stats, a diff or a download: refused (RefusedError, 409) when the store does not hold the backup's artifact whole,
   * naming why and the newest whole backup of its kind.
   */
  getWholeBackup(id: string, use: BackupUse, series?: string): Promise<Manifest>;
  /** The artifact's bytes; with `range`, bytes `start` to `end` (inclusive) of it. */
  openArtifact(m: Manifest, signal: AbortSignal, range?: ByteRange): Promise<Readable>;
  /** Deletes backups as `reshifter delete` does (the newest of a series only with `force`). */
  deleteBackups(ids: readonly string[], opts: DeleteOptions): Promise<DeleteResult>;
  /** A backup, then retention (as `reshifter backup`); a checkpoint run gives one manifest per container. */
  backup(opts: { strategy?: StrategySpec }, job: JobContext): Promise<Manifest | Manifest[]>;
  verify(m: Manifest, job: JobContext): Promise<VerifyResult>;
  /** Restores the keys of backup `m` (`req` as asked: its backupId may be `latest`) into etcd, or with `dryRun` plans it. */
  restore(m: Manifest, req: RestoreRequest, job: JobContext): Promise<unknown>;
  diff(from: Manifest, to: Manifest, opts: { limit: number }, signal: AbortSignal): Promise<BackupDiff>;
  /** The chains of continuous backups: each full backup with the delta segments recorded after it. */
  listChains(): Promise<ChainView[]>;
  /**
   * Where a restore `to` a point goes: the chain and revision (`backupId` a full backup, or `latest`). Throws
   * NotFoundError (TargetNotRecordedError) naming what the store holds when no chain covers it.
   */
  resolvePoint(req: RestoreRequest & { to: string }, series?: string): Promise<PointResolution>;
  /** Restores a key dump or a snapshot's keys and the changes after it up to the point, or with `dryRun` plans it. */
  restorePoint(r: PointResolution, req: RestoreRequest & { to: string }, job: JobContext): Promise<unknown>;
}

/** What `handleApi` needs. */
export interface ApiDeps {
  /** RS_API_TOKEN: required on every API request when set; without it the API is read-only. */
  token?: string;
  /**
   * Whether `content` routes (stats, explore, diff, a backup's details) answer without a token (server/exposure.ts
   * contentReadsOpen: on loopback, or RS_API_READ_OPEN=true).
   */
  contentOpen: boolean;
  log: Logger;
  jobs: JobQueue;
  services: ApiServices;
  /** Most heavy reads (diff, stats) at once; more answer 429. Default 2. */
  maxHeavyReads?: number;
  /** How long a request other than diff and stats waits on the store in all (API_WAIT_MS; tests shorten it). */
  waitMs?: number;
}
