import { KEY_DUMP_CONTENT_TYPE } from '../../../archive/key-dump-format.js';
import { NotFoundError } from '../../../core/errors.js';
import { ApiError } from '../http.js';
import type { Route } from '../router.js';
import { COMPONENTS } from '../schemas.js';
import type { RestoreRequest } from '../services.js';
import { jobReply } from './jobs.js';

/** `POST /api/v1/restores`: a key dump back into etcd, or (dryRun) the plan of it. */
export const restoreRoutes: Route[] = [
  {
    method: 'POST',
    path: '/api/v1/restores',
    operationId: 'createRestore',
    summary: 'Restore a key dump into etcd (or, with dryRun, plan it), as a job',
    description:
      'The stored bytes are checked against the manifest before anything is written. The filters replace the configured RS_INCLUDE_/EXCLUDE_ ones. ' +
      'The job\'s result is the plan (dryRun) or the counts: totals and one row per resource of create / update / unchanged / skipped. ' +
      'Snapshots restore into a new etcd data directory with the CLI, not through the API.',
    tag: 'restores',
    access: 'write',
    body: { schema: COMPONENTS.RestoreRequest!, required: true },
    responses: { 202: { description: 'the job; poll its Location', schema: { $ref: '#/components/schemas/Job' } } },
    handle: async (c) => {
      const req = c.body as RestoreRequest;
      const m = await c.deps.services.getBackup(req.backupId).catch((err: unknown) => {
        if (err instanceof NotFoundError) throw new ApiError(404, 'not_found', err.message, 'backupId');
        throw err;
      });
      if (m.contentType !== KEY_DUMP_CONTENT_TYPE) {
        const why =
          m.contentType === 'etcd-snapshot'
            ? `is an etcd snapshot, which restores into a new data directory on an etcd host: "reshifter restore ${m.id} --data-dir DIR"`
            : `is a ${m.strategy} listing, which holds no values to restore`;
        throw new ApiError(400, 'bad_request', `field "backupId": backup ${m.id} ${why}; the API restores key dumps (raw, filter:)`, 'backupId');
      }
      const params: Record<string, unknown> = { ...req, backupId: m.id };
      return jobReply(
        c.deps.jobs.submit({ kind: 'restore', writes: true, params, run: (job) => c.deps.services.restore(m, { ...req, backupId: m.id }, job) }),
      );
    },
  },
];
