import { USES } from '../../../core/latest.js';
import type { Route } from '../router.js';
import { BACKUP_ID_PARAM } from '../schemas.js';
import { STRATEGY_QUERY, seriesParam } from '../series-param.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** Version, the etcd endpoint, and stats. */
export const infoRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/v1/version',
    operationId: 'getVersion',
    summary: 'The version of reshifter and of Node.js',
    tag: 'info',
    access: 'read',
    responses: { 200: { description: 'the versions', schema: ref('Version') } },
    handle: async (c) => ({ status: 200, json: c.deps.services.version() }),
  },
  {
    method: 'GET',
    path: '/api/v1/explore',
    operationId: 'explore',
    summary: 'What the etcd endpoint is and holds: version, members, leader, TLS, auth, size, Kubernetes prefixes',
    tag: 'info',
    access: 'content',
    responses: { 200: { description: 'the endpoint', schema: ref('Explore') } },
    handle: async (c) => ({ status: 200, json: await c.deps.services.explore(c.signal) }),
  },
  {
    method: 'GET',
    path: '/api/v1/stats',
    operationId: 'liveStats',
    summary: 'Keys and bytes per prefix, resource, namespace and encoding of the live etcd',
    tag: 'info',
    access: 'content',
    heavy: true,
    responses: { 200: { description: 'the stats', schema: ref('Stats') } },
    handle: async (c) => ({ status: 200, json: await c.deps.services.liveStats(c.signal) }),
  },
  {
    method: 'GET',
    path: '/api/v1/stats/{backupId}',
    operationId: 'backupStats',
    summary: 'Keys and bytes per prefix, resource, namespace and encoding of a backup',
    tag: 'info',
    access: 'content',
    heavy: true,
    readsArtifact: true,
    description:
      '"latest" is the newest backup that has stats: a snapshot, key dump or render listing (of ?strategy). ' +
      'A backup whose artifact the store does not hold whole is refused (409), naming the newest whole one.',
    params: { backupId: BACKUP_ID_PARAM },
    query: { strategy: STRATEGY_QUERY },
    responses: { 200: { description: 'the stats', schema: ref('Stats') } },
    handle: async (c) => {
      const m = await c.deps.services.getWholeBackup(c.params.backupId!, USES.stats, seriesParam(c.query.strategy));
      return { status: 200, json: await c.deps.services.backupStats(m, c.signal) };
    },
  },
];
