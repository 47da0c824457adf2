import { USES } from '../../../core/latest.js';
import { inSeries } from '../../../core/series.js';
import { parseStrategyToTake, type StrategySpec } from '../../../core/strategy.js';
import { ApiError } from '../http.js';
import type { Route, RouteContext } from '../router.js';
import { BACKUP_ID_PARAM, COMPONENTS } from '../schemas.js';
import { BACKUP_ID_RE } from '../../../core/naming.js';
import { STRATEGY_QUERY, seriesParam } from '../series-param.js';
import { jobReply } from './jobs.js';
import { requestedRange } from '../byte-range.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const idParam = { id: BACKUP_ID_PARAM };
const strategyQuery = { strategy: STRATEGY_QUERY };

/** The manifest of the backup in the path (404 when there is none); `latest` is the newest of any kind (of ?strategy). */
const backupOf = (c: RouteContext) => c.deps.services.getBackup(c.params.id!, USES.any, seriesParam(c.query.strategy));

/**
 * One page of a listing (newest first): those after `before` (by id, which sorts by time, when that backup is not
 * listed: deleted since), at most `limit`, with the total and, while more follow, a `Link` to the next page (relative:
 * it stays under the path a reverse proxy serves the API at).
 */
function pageOf<T extends { id: string }>(listed: T[], query: RouteContext['query']): { json: T[]; headers: Record<string, string> } {
  const before = typeof query.before === 'string' ? query.before : undefined;
  let rest = listed;
  if (before !== undefined) {
    const at = listed.findIndex((m) => m.id === before);
    rest = at >= 0 ? listed.slice(at + 1) : listed.filter((m) => m.id < before);
  }
  const limit = typeof query.limit === 'number' ? query.limit : undefined;
  const page = limit === undefined ? rest : rest.slice(0, limit);
  const headers: Record<string, string> = { 'X-Total-Count': String(listed.length) };
  if (limit !== undefined && rest.length > page.length) {
    const next = new URLSearchParams({ ...(typeof query.strategy === 'string' && { strategy: query.strategy }), limit: String(limit), before: page.at(-1)!.id });
    headers.Link = `<?${next.toString()}>; rel="next"`;
  }
  return { json: page, headers };
}

/** `/api/v1/backups`: list, details, download, delete, back up now, verify. */
export const backupRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/v1/backups',
    operationId: 'listBackups',
    summary: "The cluster's backups (their manifests), newest first",
    tag: 'backups',
    access: 'read',
    query: {
      strategy: { ...STRATEGY_QUERY, description: 'only the backups of this series (as `reshifter list --strategy`)' },
      limit: { schema: { type: 'integer', minimum: 1, maximum: 10000 }, description: 'at most this many (a page); the `Link` header (rel="next") names the next page' },
      before: {
        schema: { type: 'string', pattern: BACKUP_ID_RE.source, description: 'a backup id' },
        description: 'only the backups listed after this one (older): the last id of the page before',
      },
    },
    responses: {
      200: {
        description: 'the manifests, newest first',
        schema: { type: 'array', items: ref('Manifest') },
        headers: { 'X-Total-Count': 'how many backups the list holds in all (of the series)', Link: '`<?limit=N&before=ID>; rel="next"` while more follow the page' },
      },
    },
    handle: async (c) => {
      const series = seriesParam(c.query.strategy);
      const all = await c.deps.services.listBackups();
      const listed = series === undefined ? all : all.filter((m) => inSeries(m, series));
      return { status: 200, ...pageOf(listed, c.query) };
    },
  },
  {
    method: 'GET',
    path: '/api/v1/backups/{id}',
    operationId: 'getBackup',
    summary: "One backup's manifest",
    tag: 'backups',
    access: 'content',
    params: idParam,
    query: strategyQuery,
    responses: { 200: { description: 'the manifest', schema: ref('Manifest') } },
    handle: async (c) => ({ status: 200, json: await backupOf(c) }),
  },
  {
    method: 'GET',
    path: '/api/v1/backups/{id}/artifact',
    operationId: 'downloadBackup',
    summary: 'The stored bytes of a backup, streamed (compressed and encrypted as its manifest says)',
    description:
      'A backup holds every Secret of the cluster: this needs the API token, and is refused when none is configured. ' +
      'A backup whose artifact the store does not hold whole (missing, or of another size than its manifest says) is refused (409) before a byte is sent, naming the newest whole one.',
    tag: 'backups',
    access: 'sensitive',
    readsArtifact: true,
    params: idParam,
    query: strategyQuery,
    responses: {
      200: {
        description: 'the artifact; X-Content-SHA256 is the sha256 the bytes must have',
        contentType: 'application/octet-stream',
        headers: { 'X-Content-SHA256': 'sha256 (hex) of the stored bytes', 'Content-Disposition': 'attachment; filename="<the manifest\'s artifact>"' },
      },
      206: {
        description: 'the bytes a `Range: bytes=START-[END]` header asks for (a resumed download: `curl -C -`); `If-Range` other than the ETag gets the whole (200)',
        contentType: 'application/octet-stream',
        headers: { 'Content-Range': 'bytes START-END/SIZE', 'X-Content-SHA256': 'sha256 (hex) of the whole stored artifact' },
      },
      416: { description: 'the Range starts past the end of the artifact (`Content-Range: bytes */SIZE`)' },
    },
    handle: async (c) => {
      // Refused (409) when the store does not hold the artifact whole: the stream broke off, or ended short of its Content-Length.
      const m = await c.deps.services.getWholeBackup(c.params.id!, USES.any, seriesParam(c.query.strategy));
      // A backup's bytes never change under its id: its sha256 is a strong validator for If-Range.
      const etag = `"${m.sha256}"`;
      const headers = {
        'Content-Type': 'application/octet-stream',
        'Content-Disposition': `attachment; filename="${m.artifact}"`,
        'X-Content-SHA256': m.sha256,
        'Accept-Ranges': 'bytes',
        ETag: etag,
      };
      const header = (name: string) => (typeof c.req.headers[name] === 'string' ? (c.req.headers[name] as string) : undefined);
      const range = requestedRange(header('range'), header('if-range'), etag, m.sizeBytes);
      if (range === 'unsatisfiable') {
        throw new ApiError(416, 'range_not_satisfiable', `the Range header (${header('range') ?? ''}) asks for bytes past the end of backup ${m.id}, which is ${m.sizeBytes} bytes`, 'Range', {
          'Content-Range': `bytes */${m.sizeBytes}`,
        });
      }
      const part = range && { 'Content-Length': String(range.end - range.start + 1), 'Content-Range': `bytes ${range.start}-${range.end}/${m.sizeBytes}` };
      const reply = range === undefined ? { status: 200, headers: { ...headers, 'Content-Length': String(m.sizeBytes) } } : { status: 206, headers: { ...headers, ...part } };
      // A HEAD (a download tool's first look) reads nothing: opening the artifact started a download of it from S3.
      if (c.req.method === 'HEAD') return reply;
      return { ...reply, stream: await c.deps.services.openArtifact(m, c.signal, range) };
    },
  },
  {
    method: 'DELETE',
    path: '/api/v1/backups/{id}',
    operationId: 'deleteBackup',
    summary: 'Delete a backup (manifest first, then the artifact)',
    description:
      'As `reshifter delete`: refused (409) for the newest backup of its series unless `force=true`, and while a job that ' +
      'uses the backup is queued or running. Retention still applies to what is left.',
    tag: 'backups',
    access: 'write',
    params: { id: { ...BACKUP_ID_PARAM, pattern: BACKUP_ID_RE.source, description: 'a backup id (not "latest": deleting needs the exact id)' } },
    query: { force: { schema: { type: 'boolean' }, description: 'also delete the newest backup of a series (as `reshifter delete --force`)' } },
    responses: { 204: { description: 'deleted' } },
    handle: async (c) => {
      const id = c.params.id!;
      if (c.deps.jobs.pending((j) => j.params.backupId === id).length > 0) {
        throw new ApiError(409, 'conflict', `backup ${id} is in use by a queued or running job; delete it when that job has finished`);
      }
      await c.deps.services.deleteBackups([id], { force: c.query.force === true, forceAs: '?force=true' });
      return { status: 204 };
    },
  },
  {
    method: 'POST',
    path: '/api/v1/backups',
    operationId: 'createBackup',
    summary: 'Take a backup now (then apply retention), as a job',
    description: 'Writing jobs run one at a time, in order, scheduled backups included.',
    tag: 'backups',
    access: 'write',
    body: { schema: COMPONENTS.BackupRequest!, required: false },
    responses: { 202: { description: 'the job; poll its Location', schema: ref('Job') } },
    handle: async (c) => {
      const body = (c.body ?? {}) as { strategy?: string };
      let strategy: StrategySpec | undefined;
      if (body.strategy !== undefined) {
        try {
          strategy = parseStrategyToTake(body.strategy);
        } catch (err) {
          throw new ApiError(400, 'bad_request', `field "strategy" ${(err as Error).message}`, 'strategy');
        }
      }
      return jobReply(
        c.deps.jobs.submit({
          kind: 'backup',
          writes: true,
          params: body.strategy !== undefined ? { strategy: body.strategy } : {},
          run: (job) => c.deps.services.backup(strategy ? { strategy } : {}, job),
        }),
      );
    },
  },
  {
    method: 'POST',
    path: '/api/v1/backups/{id}/verify',
    operationId: 'verifyBackup',
    summary: 'Re-read a backup and check it against its manifest, as a job',
    description:
      'The job\'s result is a VerifyResult; a failed check makes ok false (the job itself succeeds). ' +
      'For a snapshot the decoded bbolt file is walked too: those checks are named "snapshot ...".',
    tag: 'backups',
    access: 'write',
    params: idParam,
    query: strategyQuery,
    responses: { 202: { description: 'the job; poll its Location', schema: ref('Job') } },
    handle: async (c) => {
      const m = await backupOf(c);
      return jobReply(
        c.deps.jobs.submit({ kind: 'verify', writes: false, params: { backupId: m.id }, run: (job) => c.deps.services.verify(m, job) }),
      );
    },
  },
];

