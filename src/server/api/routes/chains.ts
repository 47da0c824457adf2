import type { Route } from '../router.js';

/** `GET /api/v1/chains`: the chains of continuous backups (a full backup and the delta segments recorded after it). */
export const chainRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/v1/chains',
    operationId: 'listChains',
    summary: 'Each full backup with the delta segments recorded after it: the revisions and times a restore can reach',
    description:
      'One chain per key dump or snapshot, newest first. `coveredTo` is the last revision a restore `to` can reach from it (segments contiguous from the base revision + 1); ' +
      '`problems` names a gap or an overlap, past which no change is applied. Each segment names its revisions, changes and when its first and last change were seen.',
    tag: 'backups',
    access: 'read',
    responses: { 200: { description: 'the chains', schema: { type: 'array', items: { type: 'object' } } } },
    handle: async (c) => ({ status: 200, json: await c.deps.services.listChains() }),
  },
];
