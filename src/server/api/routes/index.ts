import { forwardedPrefix } from '../../forwarded-prefix.js';
import { openApiDocument } from '../openapi.js';
import type { Route } from '../router.js';
import { backupRoutes } from './backups.js';
import { clusterRoutes } from './clusters.js';
import { chainRoutes } from './chains.js';
import { diffRoutes } from './diff.js';
import { infoRoutes } from './info.js';
import { jobRoutes } from './jobs.js';
import { restoreRoutes } from './restores.js';

const openApiRoute: Route = {
  method: 'GET',
  path: '/api/v1/openapi.json',
  operationId: 'openApi',
  summary: 'This document',
  tag: 'info',
  access: 'read',
  responses: { 200: { description: 'the OpenAPI 3.1 document', schema: { type: 'object' } } },
  // Behind a proxy that serves the API under a path (X-Forwarded-Prefix), its server is there: a client made from the
  // document (Swagger UI, a generated one) calls under that path, not the host's root.
  handle: async (c) => {
    const doc = openApiDocument(ROUTES);
    const prefix = forwardedPrefix(c.req.headers);
    return { status: 200, json: prefix === undefined ? doc : { ...doc, servers: [{ url: `${prefix}/` }] } };
  },
};

/** Every operation of the API. */
export const ROUTES: readonly Route[] = [...infoRoutes, ...backupRoutes, ...clusterRoutes, ...jobRoutes, ...restoreRoutes, ...diffRoutes, ...chainRoutes, openApiRoute];
