import { VERSION } from '../../version.js';
import type { Route } from './router.js';
import { COMPONENTS } from './schemas.js';

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** The error answers every route may give, besides its own successes. */
function errorResponses(route: Route): Record<string, unknown> {
  const out: Record<string, unknown> = {
    401: errorResponse('RS_API_TOKEN is set and the request did not carry it as a bearer token'),
    500: errorResponse('an unexpected failure (logged)'),
  };
  if (route.access === 'content') {
    out[403] = errorResponse('RS_API_TOKEN is not set and the API is reachable beyond loopback: reads of what the cluster holds need RS_API_READ_OPEN=true');
  } else if (route.access !== 'read') out[403] = errorResponse('RS_API_TOKEN is not set: the API is read-only');
  if (route.params || route.body || route.query) out[400] = errorResponse('a parameter or the body is malformed; "field" names it');
  if (route.params || route.path === '/api/v1/diff' || route.path === '/api/v1/restores') out[404] = errorResponse('no such backup or job');
  if (route.body) {
    out[413] = errorResponse('the body is larger than 64 KiB');
    out[415] = errorResponse('the body is not application/json');
  }
  if (route.method === 'DELETE') out[409] = errorResponse('the backup is the newest of its series (without force=true), or a queued or running job uses it');
  if (route.readsArtifact) {
    out[409] = errorResponse('the backup\'s artifact is missing from the store, or of another size than its manifest says: it restores nothing (the message names the newest whole backup)');
  }
  if (route.heavy) out[429] = errorResponse('too many diffs and stats are running; try again shortly');
  out[422] = errorResponse('the request is well-formed but cannot be done (e.g. a listing has no keys to diff)');
  out[502] = errorResponse('etcd or the backup store failed');
  return out;
}

/**
 * The OpenAPI 3.1 document of the API, made from the route table itself (paths, parameters, bodies, responses) and
 * the schemas the bodies are validated with, so it describes exactly what is served.
 */
export function openApiDocument(routes: readonly Route[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const parameters = [
      ...Object.entries(route.params ?? {}).map(([name, schema]) => ({ name, in: 'path', required: true, schema, description: schema.description })),
      ...Object.entries(route.query ?? {}).map(([name, q]) => ({ name, in: 'query', required: q.required === true, schema: q.schema, description: q.description })),
    ];
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(route.responses)) {
      responses[status] = {
        description: r.description,
        ...(r.headers && { headers: Object.fromEntries(Object.entries(r.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }])) }),
        ...((r.schema || r.contentType) && { content: { [r.contentType ?? 'application/json']: { schema: r.schema ?? { type: 'string', format: 'binary' } } } }),
      };
    }
    Object.assign(responses, errorResponses(route));
    (paths[route.path] ??= {})[route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description && { description: route.description }),
      tags: [route.tag],
      ...(parameters.length > 0 && { parameters }),
      ...(route.body && { requestBody: { required: route.body.required, content: { 'application/json': { schema: route.body.schema } } } }),
      responses,
      ...(route.access === 'read' ? {} : { 'x-access': route.access }),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'reshifter',
      version: VERSION,
      description:
        'Backups of the etcd behind Kubernetes: list, download, verify, diff, back up now and restore. ' +
        'With RS_API_TOKEN set, every request needs "Authorization: Bearer <token>"; without it the API is read-only ' +
        '(changing operations and downloads answer 403), and when it listens beyond loopback, the reads that show what the ' +
        'cluster holds (stats, explore, diff, a backup\'s details) answer 403 too unless RS_API_READ_OPEN=true.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: COMPONENTS,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the value of RS_API_TOKEN' } },
    },
  };
}
