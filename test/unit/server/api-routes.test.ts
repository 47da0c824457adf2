import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../../src/server/api/openapi.js';
import { matchPath } from '../../../src/server/api/router.js';
import { ROUTES } from '../../../src/server/api/routes/index.js';
import { validate } from '../../../src/server/api/schema.js';
import { COMPONENTS } from '../../../src/server/api/schemas.js';

describe('the route table', () => {
  it('has one route per method and path, unique operation ids, and every path parameter declared', () => {
    const keys = ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    const ids = ROUTES.map((r) => r.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of ROUTES) {
      const inPath = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect(Object.keys(r.params ?? {}).sort(), r.path).toEqual(inPath.sort());
      expect(r.path.startsWith('/api/v1/')).toBe(true);
      // Anything but a plain read must say so, so the token rules apply.
      if (r.method !== 'GET') expect(r.access).toBe('write');
    }
  });

  it('serves what the issue lists', () => {
    const keys = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
    for (const k of [
      'GET /api/v1/version', 'GET /api/v1/explore', 'GET /api/v1/stats', 'GET /api/v1/stats/{backupId}',
      'GET /api/v1/backups', 'GET /api/v1/backups/{id}', 'GET /api/v1/backups/{id}/artifact', 'DELETE /api/v1/backups/{id}',
      'POST /api/v1/backups', 'POST /api/v1/backups/{id}/verify', 'POST /api/v1/restores', 'GET /api/v1/jobs/{id}',
      'GET /api/v1/diff', 'GET /api/v1/openapi.json',
    ]) expect(keys.has(k), k).toBe(true);
  });

  it('matches paths to templates and decodes parameters', () => {
    expect(matchPath(ROUTES, '/api/v1/backups')!.routes.map((r) => r.method).sort()).toEqual(['GET', 'POST']);
    const one = matchPath(ROUTES, '/api/v1/backups/latest')!;
    expect(one.params).toEqual({ id: 'latest' });
    expect(one.routes.map((r) => r.method).sort()).toEqual(['DELETE', 'GET']);
    expect(matchPath(ROUTES, '/api/v1/backups/a%2Fb/artifact')!.params).toEqual({ id: 'a/b' });
    expect(matchPath(ROUTES, '/api/v1/backups/%E0%A4%A/artifact')).toBeUndefined();
    expect(matchPath(ROUTES, '/api/v1/backups//artifact')).toBeUndefined();
    expect(matchPath(ROUTES, '/api/v1/backups/x/y/z')).toBeUndefined();
    expect(matchPath(ROUTES, '/api/v2/backups')).toBeUndefined();
  });
});

describe('the OpenAPI document', () => {
  const doc = openApiDocument(ROUTES) as { paths: Record<string, Record<string, { responses: Record<string, unknown>; parameters?: unknown[] }>> };

  it('has every route, its parameters and the shared error answers', () => {
    for (const r of ROUTES) {
      const op = doc.paths[r.path]![r.method.toLowerCase()]!;
      expect(op, `${r.method} ${r.path}`).toBeDefined();
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining([...Object.keys(r.responses), '401', '500']));
      if (r.access !== 'read') expect(op.responses).toHaveProperty('403');
      expect(op.parameters?.length ?? 0).toBe(Object.keys(r.params ?? {}).length + Object.keys(r.query ?? {}).length);
    }
  });

  it('says which routes answer 409 for a backup whose artifact the store does not hold whole', () => {
    // Each refuses such a backup up front (BackupRepository.getWhole): the download too, which streamed it before.
    const op = (path: string, method: string) => doc.paths[path]![method]! as { description?: string; responses: Record<string, { description: string }> };
    for (const [path, method] of [['/api/v1/backups/{id}/artifact', 'get'], ['/api/v1/restores', 'post'], ['/api/v1/stats/{backupId}', 'get'], ['/api/v1/diff', 'get']] as const) {
      expect({ path, answer: op(path, method).responses['409']?.description }).toEqual({ path, answer: expect.stringContaining('artifact is missing from the store, or of another size than its manifest says') as unknown });
    }
    expect(op('/api/v1/backups/{id}/artifact', 'get').description).toContain('409');
    // Only the routes that read a backup's artifact (and DELETE, for its own reasons) answer it.
    expect(op('/api/v1/backups/{id}', 'get').responses).not.toHaveProperty('409');
  });

  it('refers only to schemas it defines', () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(10);
    for (const name of refs) expect(COMPONENTS, name).toHaveProperty(name);
    // Every schema is usable by the validator.
    for (const name of Object.keys(COMPONENTS)) expect(() => validate(COMPONENTS[name]!, {}, COMPONENTS)).not.toThrow();
  });
});
