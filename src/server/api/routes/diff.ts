import { withoutFieldValues } from '../../../core/field-diff.js';
import { USES } from '../../../core/latest.js';
import type { Route } from '../router.js';
import { BACKUP_ID_PARAM } from '../schemas.js';
import { STRATEGY_QUERY, seriesParam } from '../series-param.js';

/** `GET /api/v1/diff`: what changed between two backups. */
export const diffRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/v1/diff',
    operationId: 'diffBackups',
    summary: 'Objects added, removed and changed between two backups, per resource and namespace',
    description:
      'Works across snapshots and key dumps alike (render listings hold no values). Values are compared byte for byte. ' +
      'A changed object lists which fields changed (`fields`); their old and new values are left out for Secrets and ' +
      'when the API has no token. ' +
      '"latest" (either side) is the newest snapshot or key dump (of ?strategy). ' +
      'A backup whose artifact the store does not hold whole is refused (409), naming the newest whole one.',
    tag: 'backups',
    access: 'content',
    heavy: true,
    readsArtifact: true,
    query: {
      from: { schema: BACKUP_ID_PARAM, required: true, description: 'the older backup' },
      to: { schema: BACKUP_ID_PARAM, required: true, description: 'the newer backup' },
      limit: { schema: { type: 'integer', minimum: 0, maximum: 10000 }, description: 'most objects listed (default 1000); counts are always complete' },
      strategy: STRATEGY_QUERY,
    },
    responses: { 200: { description: 'the differences', schema: { $ref: '#/components/schemas/Diff' } } },
    handle: async (c) => {
      const { services } = c.deps;
      const series = seriesParam(c.query.strategy);
      const from = await services.getWholeBackup(String(c.query.from), USES.diff, series);
      const to = await services.getWholeBackup(String(c.query.to), USES.diff, series);
      const limit = typeof c.query.limit === 'number' ? c.query.limit : 1000;
      const d = await services.diff(from, to, { limit }, c.signal);
      // Without a token anyone who reaches the API reads this: field values only with one, as for downloads.
      return { status: 200, json: c.deps.token === undefined ? withoutFieldValues(d) : d };
    },
  },
];
