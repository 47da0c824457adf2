import type { Route } from '../router.js';

/** `GET /api/v1/clusters`: every cluster of the store (one bucket or folder shared by a fleet), as `list --all-clusters`. */
export const clusterRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/v1/clusters',
    operationId: 'listClusters',
    summary: 'The clusters in the store, each with its newest backup and its age (as `reshifter list --all-clusters`)',
    description: 'A cluster is a top-level folder of the store that holds at least one manifest; `current` marks RS_CLUSTER_NAME.',
    tag: 'backups',
    access: 'read',
    responses: { 200: { description: 'the clusters, by name', schema: { type: 'array', items: { $ref: '#/components/schemas/Cluster' } } } },
    handle: async (c) => ({ status: 200, json: await c.deps.services.listClusters() }),
  },
];
