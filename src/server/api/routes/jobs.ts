import type { JobView } from '../../../core/jobs.js';
import { ApiError, type ApiReply } from '../http.js';
import type { Route } from '../router.js';
import { JOB_ID_PARAM } from '../schemas.js';

/** The answer to a request that started a job: 202, the job, and where to poll it. */
export function jobReply(job: JobView): ApiReply {
  return { status: 202, json: job, headers: { Location: `/api/v1/jobs/${job.id}` } };
}

/** `/api/v1/jobs`: what the API and the scheduler are doing and have done. */
export const jobRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/v1/jobs',
    operationId: 'listJobs',
    summary: 'Recent jobs (backups, verifies, restores), newest first',
    tag: 'jobs',
    access: 'read',
    responses: { 200: { description: 'the jobs', schema: { type: 'array', items: { $ref: '#/components/schemas/Job' } } } },
    handle: async (c) => ({ status: 200, json: c.deps.jobs.list() }),
  },
  {
    method: 'GET',
    path: '/api/v1/jobs/{id}',
    operationId: 'getJob',
    summary: "A job's state, progress, result or error",
    tag: 'jobs',
    access: 'read',
    params: { id: JOB_ID_PARAM },
    responses: { 200: { description: 'the job', schema: { $ref: '#/components/schemas/Job' } } },
    handle: async (c) => {
      const job = c.deps.jobs.get(c.params.id!);
      if (!job) throw new ApiError(404, 'not_found', `no job "${c.params.id!}" (finished jobs are forgotten after a while, and on restart)`);
      return { status: 200, json: job };
    },
  },
];
