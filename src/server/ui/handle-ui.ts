import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forwardedPrefix } from '../forwarded-prefix.js';

/** The page's files: plain HTML, CSS and JavaScript modules, served as they are (no build step). */
export const UI_DIR = fileURLToPath(new URL('./assets/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

// Same-origin only: no inline script or style, no framing, no third-party anything.
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

interface Asset {
  type: string;
  body: Buffer;
}

let assets: Promise<Map<string, Asset>> | undefined;

/** Reads the asset folder once: only files present at start are ever served, so no path can reach elsewhere. */
function loadAssets(dir: string): Promise<Map<string, Asset>> {
  return (async () => {
    const map = new Map<string, Asset>();
    for (const name of await readdir(dir)) {
      const type = TYPES[extname(name)];
      if (type) map.set(name, { type, body: await readFile(join(dir, name)) });
    }
    return map;
  })();
}

/** What handleUi serves: the page and its files. */
export const UI_PATHS = ['/', '/ui/'] as const;

/**
 * Serves the web UI: `/` is the page, `/ui/<file>` its scripts and styles (see pageUnder for a page behind a proxy's
 * path). Returns false for every other path.
 * The page talks to the API like any client; it holds no secrets (the token is typed in and kept in the tab).
 */
export async function handleUi(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  // `/ui/` (as the start-up line lists it, and where many tools keep theirs) and `/ui` lead to the page, by a
  // relative redirect, which stays under the path a reverse proxy serves it at: before, a 404 that listed /ui/.
  if ((path === '/ui/' || path === '/ui') && (req.method === 'GET' || req.method === 'HEAD')) {
    res.writeHead(302, { Location: path === '/ui/' ? '../' : './', 'Content-Length': '0', 'Cache-Control': 'no-cache', ...SECURITY_HEADERS });
    res.end();
    return true;
  }
  const name = path === '/' || path === '/index.html' ? 'index.html' : path.startsWith('/ui/') ? path.slice(4) : undefined;
  if (name === undefined) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'application/json; charset=utf-8' });
    res.end(`${JSON.stringify({ error: `${req.method ?? ''} is not allowed on ${path}`, code: 'method_not_allowed' })}\n`);
    return true;
  }
  assets ??= loadAssets(UI_DIR).catch((err: unknown) => {
    assets = undefined;
    throw new Error(`the web UI's files cannot be read from ${UI_DIR} (${(err as Error).message}); "npm run build" copies them`);
  });
  const asset = (await assets).get(name);
  if (!asset) return false;
  const body = name === 'index.html' ? pageUnder(asset.body, forwardedPrefix(req.headers)) : asset.body;
  res.writeHead(200, {
    'Content-Type': asset.type,
    'Content-Length': String(body.length),
    // The files change only with a new version of reshifter: revalidate rather than guess.
    'Cache-Control': 'no-cache',
    ...SECURITY_HEADERS,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}

/**
 * The page, which names its files relative to itself (`ui/app.js`), so that it works under any path a reverse proxy
 * serves it at, as long as the address ends in `/` (`https://host/reshifter/`). Opened without it
 * (`https://host/reshifter`), the browser would look for them at `/ui/`: a proxy that says where it serves this server
 * (`X-Forwarded-Prefix: /reshifter`, as Traefik's stripPrefix and ingress-nginx's x-forwarded-prefix annotation send
 * it) gets the page with its files named under that path instead.
 */
function pageUnder(page: Buffer, prefix: string | undefined): Buffer {
  if (prefix === undefined) return page;
  return Buffer.from(page.toString('utf8').replace(/(href|src)="ui\//g, `$1="${prefix}/ui/`));
}
