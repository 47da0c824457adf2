import { KEY_DUMP_CONTENT_TYPE, SNAPSHOT_CONTENT_TYPE } from '../../../core/content-type.js';
import { NotFoundError } from '../../../core/errors.js';
import { USES } from '../../../core/latest.js';
import { ApiError } from '../http.js';
import type { Route } from '../router.js';
import { COMPONENTS } from '../schemas.js';
import type { RestoreRequest } from '../services.js';
import { seriesParam } from '../series-param.js';
import { jobReply } from './jobs.js';
import { parseTarget } from '../../../core/delta-chain.js';
import type { RouteContext } from '../router.js';

/** `POST /api/v1/restores`: the keys of a key dump or a snapshot back into etcd, or (dryRun) the plan of it. */
export const restoreRoutes: Route[] = [
  {
    method: 'POST',
    path: '/api/v1/restores',
    operationId: 'createRestore',
    summary: 'Restore the keys of a key dump or of a snapshot into etcd (or, with dryRun, plan it), as a job',
    description:
      'The stored bytes are checked against the manifest before anything is written. The filters replace the configured RS_INCLUDE_/EXCLUDE_ ones. ' +
      'The job\'s result is the plan (dryRun) or the counts: totals and one row per resource of create / update / unchanged / skipped. ' +
      'A snapshot backup has its live keys (under RS_KUBE_PREFIXES, default the Kubernetes prefixes) written into the running etcd, as `reshifter restore <id> --keys` does; ' +
      'restoring a whole snapshot into a new etcd data directory is done with the CLI on the etcd host (`--data-dir`). ' +
      'backupId "latest" is the newest key dump or snapshot (of `strategy`, when given); render listings are never picked. ' +
      'A backup whose artifact the store does not hold whole (missing, or of another size than its manifest says) is refused (409) before any job, naming the newest whole one.',
    tag: 'restores',
    access: 'write',
    readsArtifact: true,
    body: { schema: COMPONENTS.RestoreRequest!, required: true },
    responses: { 202: { description: 'the job; poll its Location', schema: { $ref: '#/components/schemas/Job' } } },
    handle: async (c) => {
      const req = c.body as RestoreRequest;
      if (req.to !== undefined) return restoreToPoint(c, { ...req, to: req.to });
      const m = await c.deps.services.getWholeBackup(req.backupId, USES.restoreKeys, seriesParam(req.strategy)).catch((err: unknown) => {
        if (err instanceof NotFoundError) throw new ApiError(404, 'not_found', err.message, 'backupId');
        throw err;
      });
      if (m.contentType !== KEY_DUMP_CONTENT_TYPE && m.contentType !== SNAPSHOT_CONTENT_TYPE) {
        throw new ApiError(
          400,
          'bad_request',
          m.checkpoint
            ? `field "backupId": backup ${m.id} is a container checkpoint, restored as an OCI image with reshifter restore ${m.id} --image-archive FILE; the API restores key dumps (raw, filter:) and the live keys of snapshots`
            : `field "backupId": backup ${m.id} is a ${m.strategy} listing, which holds no values to restore; the API restores key dumps (raw, filter:) and the live keys of snapshots`,
          'backupId',
        );
      }
      const params: Record<string, unknown> = { ...req, backupId: m.id };
      return jobReply(
        c.deps.jobs.submit({ kind: 'restore', writes: true, params, run: (job) => c.deps.services.restore(m, req, job) }),
      );
    },
  },
];

/**
 * A restore `to` a point: the chain of `backupId` (a key dump or a snapshot, or `latest`: the newest at or before the
 * target) and the changes recorded after it, resolved before the job starts so that a point the store does not hold
 * answers 404 naming what it holds.
 */
async function restoreToPoint(c: RouteContext, req: RestoreRequest & { to: string }) {
  try {
    parseTarget(req.to);
  } catch (err) {
    throw new ApiError(400, 'bad_request', `field "to": ${(err as Error).message}`, 'to');
  }
  const r = await c.deps.services.resolvePoint(req, seriesParam(req.strategy)).catch((err: unknown) => {
    if (err instanceof NotFoundError) throw new ApiError(404, 'not_found', err.message, 'to');
    throw err;
  });
  const params: Record<string, unknown> = { ...req, backupId: r.chain.base.id, revision: r.revision };
  return jobReply(c.deps.jobs.submit({ kind: 'restore', writes: true, params, run: (job) => c.deps.services.restorePoint(r, req, job) }));
}
