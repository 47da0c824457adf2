import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { formatDuration } from '../../core/duration.js';
import { withWaitBudget } from '../../core/wait-budget.js';
import { AbortedError, ConfigError, EtcdError, NotFoundError, OperationError, RefusedError, StoreError, UsageError, describeError } from '../../core/errors.js';
import { forwardedPrefix } from '../forwarded-prefix.js';
import { authorize } from './auth.js';
import { ApiError, readJsonBody, sendError, sendJson, type ApiReply } from './http.js';
import { matchPath, type Route, type RouteContext } from './router.js';
import { ROUTES } from './routes/index.js';
import { validate } from './schema.js';
import { COMPONENTS } from './schemas.js';
import type { ApiDeps } from './services.js';

export const API_PREFIX = '/api/';
/** Where the API's routes are, as the start-up log line names them (GET /api/v1/openapi.json lists them). */
export const API_PATHS = ['/api/v1/'] as const;

/**
 * How long an API request (not diff or stats, nor the jobs it starts) waits on S3 in all: below the 30 s to 60 s after
 * which reverse proxies and load balancers answer 504 themselves, naming nothing.
 */
export const API_WAIT_MS = 20_000;

/** Heavy reads (diff, stats) in flight, per deps object (one per server). */
const heavyReads = new WeakMap<ApiDeps, number>();

/**
 * Serves the HTTP API under `/api/`: returns false for any other path (for the next handler), true once it has
 * answered. Order: another site's page (403), the token (every request, when one is set), the route (404, 405), the
 * route's access (403), parameters and body (400, 413, 415), then the handler. Errors become `{ error, code, field? }`
 * JSON; unexpected ones are logged and answered 500 without details. Headers are never logged.
 */
export async function handleApi(req: IncomingMessage, res: ServerResponse, deps: ApiDeps): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (!(url.pathname + '/').startsWith(API_PREFIX)) return false;
  const log = deps.log.child({ component: 'api' });
  const started = Date.now();
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new AbortedError('the client went away'));
  });
  try {
    admit(req, deps);
    checkEncoding(url.pathname);
    const matched = matchPath(ROUTES, url.pathname);
    if (!matched) throw new ApiError(404, 'not_found', `no API path ${url.pathname}; GET /api/v1/openapi.json lists them`);
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const route = matched.routes.find((r) => r.method === method);
    if (!route) {
      const allow = [...new Set(matched.routes.flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method])))].join(', ');
      throw new ApiError(405, 'method_not_allowed', `${req.method ?? ''} is not allowed on ${url.pathname} (allowed: ${allow})`, undefined, { Allow: allow });
    }
    authorize(req.headers, deps.token, route.access, deps.contentOpen);
    const ctx: RouteContext = {
      req,
      params: checkParams(route, matched.params),
      query: checkQuery(route, url.searchParams),
      body: await checkBody(route, req),
      deps,
      signal: controller.signal,
    };
    const reply = await runRoute(route, ctx, deps);
    await send(res, reply);
    log[route.method === 'GET' ? 'debug' : 'info']({ method: req.method, path: url.pathname, status: reply.status, ms: Date.now() - started }, 'api request');
  } catch (err) {
    if (controller.signal.aborted) {
      // The client left (a cancelled download, a closed tab): nothing to answer, nothing went wrong here.
      log.debug({ method: req.method, path: url.pathname, err: describeError(err) }, 'api client went away');
      res.destroy();
      return true;
    }
    const apiErr = toApiError(err);
    if (apiErr.status >= 500) {
      log.error({ method: req.method, path: url.pathname, status: apiErr.status, err: describeError(err) }, 'api request failed');
    } else {
      log.info({ method: req.method, path: url.pathname, status: apiErr.status, code: apiErr.code }, 'api request refused');
    }
    if (!res.headersSent) sendError(res, apiErr);
    else res.destroy();
  }
  return true;
}

/**
 * Runs the route's handler. Diff and stats read whole backups or the whole etcd, for as long as that takes once the
 * store or etcd answered, two at a time at most (429 beyond); every other read answers, its failure named, before a
 * reverse proxy in front gives up on it (core/wait-budget.ts), and so does a diff or stats of an etcd or a store that
 * is down or frozen.
 */
async function runRoute(route: Route, ctx: RouteContext, deps: ApiDeps): Promise<ApiReply> {
  const ms = deps.waitMs ?? API_WAIT_MS;
  const what = `the API waits at most ${formatDuration(ms)} for the store and etcd, to answer before a proxy in front gives up`;
  if (!route.heavy) return withWaitBudget(ms, what, () => route.handle(ctx));
  // A diff or stats waits as long for the first answer (an etcd or S3 that is down or frozen), then reads on.
  return withWaitBudget(ms, what, () => runHeavy(route, ctx, deps), { untilAnswered: true });
}

async function runHeavy(route: Route, ctx: RouteContext, deps: ApiDeps): Promise<ApiReply> {
  const running = heavyReads.get(deps) ?? 0;
  if (running >= (deps.maxHeavyReads ?? 2)) {
    throw new ApiError(429, 'busy', `${running} diffs or stats are running; try again when they have finished`, undefined, { 'Retry-After': '5' });
  }
  heavyReads.set(deps, running + 1);
  try {
    return await route.handle(ctx);
  } finally {
    heavyReads.set(deps, (heavyReads.get(deps) ?? 1) - 1);
  }
}

async function send(res: ServerResponse, reply: ApiReply): Promise<void> {
  // A job's Location (`/api/v1/jobs/<id>`) behind a proxy that serves this server under a path: under that path.
  const prefix = forwardedPrefix(res.req.headers);
  const location = reply.headers?.Location;
  if (prefix !== undefined && location?.startsWith('/')) reply = { ...reply, headers: { ...reply.headers, Location: `${prefix}${location}` } };
  if (reply.stream) {
    res.writeHead(reply.status, { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...reply.headers });
    if (res.req.method === 'HEAD') {
      reply.stream.destroy();
      res.end();
      return;
    }
    // A client that goes away ends the pipeline, which destroys the store's read.
    await pipeline(reply.stream, res);
    return;
  }
  if (reply.json === undefined) {
    res.writeHead(reply.status, { 'Cache-Control': 'no-store', ...reply.headers });
    res.end();
    return;
  }
  sendJson(res, reply.status, reply.json, reply.headers);
}

/** A path with a `%` that starts no percent-encoded UTF-8 (`/backups/%ZZ`) is a 400 saying so, not a 404. */
function checkEncoding(path: string): void {
  try {
    decodeURIComponent(path);
  } catch {
    throw new ApiError(400, 'bad_request', `the path ${path} is not valid percent-encoding (a "%" must start %XX of UTF-8; a literal "%" is %25)`);
  }
}

function checkParams(route: Route, params: Record<string, string>): Record<string, string> {
  for (const [name, schema] of Object.entries(route.params ?? {})) {
    const problem = validate(schema, params[name], COMPONENTS, name);
    if (problem) throw new ApiError(400, 'bad_request', `path parameter ${problem.message.replace(/^field /, '')}`, name);
  }
  return params;
}

function checkQuery(route: Route, search: URLSearchParams): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  const known = route.query ?? {};
  for (const name of new Set(search.keys())) {
    if (!Object.prototype.hasOwnProperty.call(known, name)) {
      throw new ApiError(400, 'bad_request', `query parameter "${name}" is not known here${Object.keys(known).length ? ` (known: ${Object.keys(known).join(', ')})` : ''}`, name);
    }
  }
  for (const [name, q] of Object.entries(known)) {
    const raw = search.get(name);
    if (raw === null) {
      if (q.required) throw new ApiError(400, 'bad_request', `query parameter "${name}" is required`, name);
      continue;
    }
    const t = q.schema.type;
    const value = t === 'integer' || t === 'number' ? (raw.trim() === '' ? NaN : Number(raw)) : t === 'boolean' ? raw === 'true' ? true : raw === 'false' ? false : raw : raw;
    const problem = validate(q.schema, value, COMPONENTS, name);
    if (problem) throw new ApiError(400, 'bad_request', `query parameter ${problem.message.replace(/^field /, '')}`, name);
    out[name] = value;
  }
  return out;
}

async function checkBody(route: Route, req: IncomingMessage): Promise<unknown> {
  if (!route.body) return refuseBody(route, req);
  const body = await readJsonBody(req);
  if (body === undefined) {
    if (route.body.required) throw new ApiError(400, 'bad_request', 'this request needs a JSON body');
    return undefined;
  }
  const problem = validate(route.body.schema, body, COMPONENTS);
  if (problem) throw new ApiError(400, 'bad_request', problem.message, problem.field === '' ? undefined : problem.field);
  return body;
}

/**
 * A route that takes no body (`POST /api/v1/backups/{id}/verify`, a DELETE, a GET) refuses one that holds anything,
 * naming its fields, as a route that takes a body refuses fields it does not know: sent fields are never ignored.
 * No body, an empty one and `{}` are fine.
 */
async function refuseBody(route: Route, req: IncomingMessage): Promise<undefined> {
  const where = `${route.method} ${route.path} takes no request body`;
  let body: unknown;
  try {
    body = await readJsonBody(req);
  } catch (err) {
    if (err instanceof ApiError && err.status === 415) throw new ApiError(400, 'bad_request', `${where}, and this one is not even JSON`);
    throw err;
  }
  if (body === undefined) return undefined;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(400, 'bad_request', `${where} (this one is ${Array.isArray(body) ? 'a JSON array' : `the JSON value ${JSON.stringify(body).slice(0, 40)}`}): send none, or {}`);
  }
  const fields = Object.keys(body);
  if (fields.length === 0) return undefined;
  const named = fields.slice(0, 10).map((f) => JSON.stringify(f)).join(', ') + (fields.length > 10 ? `, and ${fields.length - 10} more` : '');
  throw new ApiError(400, 'bad_request', `${where}: field${fields.length > 1 ? 's' : ''} ${named} ${fields.length > 1 ? 'are' : 'is'} not allowed here (send none, or {})`, fields[0]);
}

/**
 * Refuses a request a browser sent for another site's page (Sec-Fetch-Site `cross-site` or `same-site`: another
 * port or name). Such a page cannot read the answer, but without a token on loopback it could make the server do the
 * work: `<img src="http://127.0.0.1:8080/api/v1/stats">` reads the whole etcd, a diff downloads two backups, again
 * and again while the tab is open. The web UI's own requests are `same-origin`; clients that are not browsers send
 * no such header.
 */
function refuseCrossSite(site: string | string[] | undefined): void {
  if (site === undefined || site === 'same-origin' || site === 'none') return;
  throw new ApiError(403, 'forbidden', "this API does not answer requests a browser sends for another site's page (Sec-Fetch-Site): open the web UI of this server, or call the API from a client that is not a browser");
}

/** What every API request passes first: not another site's (refuseCrossSite), and the token when one is set. */
function admit(req: IncomingMessage, deps: ApiDeps): void {
  refuseCrossSite(req.headers['sec-fetch-site']);
  if (deps.token !== undefined) authorize(req.headers, deps.token, 'read');
}

/** Our error types as HTTP answers; anything else is a bug: 500 without details. */
function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  // The request's own mistake (a malformed backup id): the schemas catch these first, this keeps any other a 400.
  if (err instanceof UsageError) return new ApiError(400, 'bad_request', err.message);
  if (err instanceof NotFoundError) return new ApiError(404, 'not_found', err.message);
  if (err instanceof RefusedError) return new ApiError(409, 'conflict', err.message);
  if (err instanceof AbortedError) return new ApiError(503, 'shutting_down', err.message);
  if (err instanceof EtcdError) return new ApiError(502, 'etcd_failed', err.message);
  if (err instanceof StoreError) return new ApiError(502, 'store_failed', err.message);
  if (err instanceof OperationError) return new ApiError(422, 'unprocessable', err.message);
  // A setting this server lacks for the backup asked about (the age identity of an encrypted one).
  if (err instanceof ConfigError) return new ApiError(422, 'unprocessable', err.message);
  return new ApiError(500, 'internal', 'internal error (logged)');
}
