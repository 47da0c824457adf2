import type { IncomingMessage } from 'node:http';
import type { Access } from './auth.js';
import type { ApiReply } from './http.js';
import type { Schema } from './schema.js';
import type { ApiDeps } from './services.js';

/** What a handler gets: the request with its path parameters, query and body already checked against the route. */
export interface RouteContext {
  req: IncomingMessage;
  params: Record<string, string>;
  query: Record<string, string | number | boolean>;
  body: unknown;
  deps: ApiDeps;
  /** Aborted when the client goes away before the reply is complete. */
  signal: AbortSignal;
}

export interface QueryParam {
  schema: Schema;
  required?: boolean;
  description: string;
}

/** One operation of the API. The OpenAPI document is made from these, so it describes exactly what is served. */
export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** OpenAPI path template: `/api/v1/backups/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  access: Access;
  /** Diff and stats read whole backups or the whole etcd: only a few run at once. */
  heavy?: boolean;
  /** It reads a backup's artifact: refused (409) up front when the store does not hold it whole (BackupRepository.getWhole). */
  readsArtifact?: boolean;
  params?: Record<string, Schema>;
  query?: Record<string, QueryParam>;
  body?: { schema: Schema; required: boolean };
  /** Success responses by status; the error responses every route shares are added by the document. */
  responses: Record<number, { description: string; schema?: Schema; contentType?: string; headers?: Record<string, string> }>;
  handle(c: RouteContext): Promise<ApiReply>;
}

/** The routes whose path template fits `path`, with the template's parameters filled in. */
export function matchPath(routes: readonly Route[], path: string): { routes: Route[]; params: Record<string, string> } | undefined {
  const parts = path.split('/');
  const found: Route[] = [];
  let params: Record<string, string> = {};
  for (const route of routes) {
    const tpl = route.path.split('/');
    if (tpl.length !== parts.length) continue;
    const p: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < tpl.length && ok; i++) {
      const t = tpl[i]!;
      if (t.startsWith('{') && t.endsWith('}')) {
        let value: string;
        try {
          value = decodeURIComponent(parts[i]!);
        } catch {
          ok = false;
          break;
        }
        if (value === '') ok = false;
        else p[t.slice(1, -1)] = value;
      } else if (t !== parts[i]) ok = false;
    }
    if (ok) {
      found.push(route);
      params = p;
    }
  }
  return found.length > 0 ? { routes: found, params } : undefined;
}
