import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleUi } from '../../../src/server/ui/handle-ui.js';

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    void handleUi(req, res).then((handled) => {
      if (!handled) {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end('{"error":"not found"}');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('handleUi', () => {
  it('serves the page and its modules with their types and a strict CSP', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const html = await page.text();
    // Every file the page loads is served.
    // Named relative to the page, so that they stay under the path a reverse proxy serves it at.
    const loaded = [...html.matchAll(/(?:src|href)="([^"]*ui\/[^"]+)"/g)].map((m) => m[1]!);
    expect(loaded.sort()).toEqual(['ui/app.css', 'ui/app.js']);
    for (const src of loaded) expect((await fetch(`${base}/${src}`)).status, src).toBe(200);
    const js = await fetch(`${base}/ui/app.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    // Modules import each other by relative path; every module reached from app.js is served.
    const seen = new Set<string>();
    const pending = ['app.js'];
    while (pending.length > 0) {
      const name = pending.pop()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const res = await fetch(`${base}/ui/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-type'), name).toBe('text/javascript; charset=utf-8');
      for (const m of (await res.text()).matchAll(/from '\.\/([\w-]+\.js)'/g)) pending.push(m[1]!);
    }
    expect([...seen].sort()).toEqual(['api.js', 'app.js', 'chain.js', 'chart.js', 'dom.js', 'field-diff.js', 'kinds.js', 'progress.js']);
    expect((await fetch(`${base}/ui/app.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  // Before: /ui/, which the start-up line lists among the paths served, was a 404.
  it('leads /ui/ and /ui to the page, by a redirect relative to where it is served', async () => {
    for (const [path, location] of [['/ui/', '../'], ['/ui', './']] as const) {
      const res = await fetch(`${base}${path}`, { redirect: 'manual' });
      expect(res.status, path).toBe(302);
      expect(res.headers.get('location'), path).toBe(location);
      expect(new URL(location, `http://host/reshifter${path}`).pathname).toBe('/reshifter/');
      const followed = await fetch(`${base}${path}`);
      expect(followed.status, path).toBe(200);
      expect(await followed.text()).toContain('src="ui/app.js"');
    }
  });

  it("names its files under the proxy's X-Forwarded-Prefix, when that is a plain path", async () => {
    const under = async (prefix: string) => (await fetch(`${base}/`, { headers: { 'X-Forwarded-Prefix': prefix } })).text();
    expect(await under('/reshifter')).toContain('src="/reshifter/ui/app.js"');
    expect(await under('/team/reshifter/')).toContain('href="/team/reshifter/ui/app.css"');
    // Anything else is not a path to put into the page: the page keeps its relative names.
    for (const bad of ['"><script>alert(1)</script>', '//evil.example', 'reshifter', '/a b']) {
      const html = await under(bad);
      expect(html, bad).toContain('src="ui/app.js"');
      expect(html, bad).not.toContain('evil');
    }
  });

  it('serves nothing else: no other paths, no way out of its folder, no writes', async () => {
    for (const path of ['/ui/nope.js', '/ui/../package.json', '/ui/..%2F..%2Fpackage.json', '/ui/%2e%2e/handle-ui.ts', '/ui/handle-ui.ts', '/other']) {
      expect((await fetch(`${base}${path}`)).status, path).toBe(404);
    }
    const post = await fetch(`${base}/`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});
