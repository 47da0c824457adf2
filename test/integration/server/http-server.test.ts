import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { HealthReport } from '../../../src/core/health.js';
import { createLogger } from '../../../src/log.js';
import { startHttpServer, type RunningHttpServer } from '../../../src/server/http-server.js';

const log = pino({ level: 'silent' });
let health: HealthReport = { healthy: true, status: 'ok', reason: 'no backup is due yet' };
let server: RunningHttpServer | undefined;

async function start(): Promise<RunningHttpServer> {
  server = await startHttpServer({
    port: 0,
    host: '127.0.0.1',
    log,
    health: () => health,
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'reshifter_up 1\n' }),
  });
  return server;
}
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function get(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}) {
  return new Promise<{ status: number; type: string; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the HTTP server of run', () => {
  it('answers /healthz with 200 or 503 and the reason', async () => {
    const { port } = await start();
    let res = await get(port, '/healthz');
    expect(res.status).toBe(200);
    expect(res.type).toContain('application/json');
    expect(JSON.parse(res.body)).toMatchObject({ healthy: true, reason: 'no backup is due yet' });
    health = { healthy: false, status: 'failing', reason: 'the last backup failed: etcd unreachable' };
    res = await get(port, '/healthz?verbose=1');
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body).reason).toBe('the last backup failed: etcd unreachable');
    expect((await get(port, '/livez')).status).toBe(200);
  });

  it('answers /readyz with 200 while it serves, whatever /healthz says (a failed backup keeps the UI and API reachable)', async () => {
    health = { healthy: false, status: 'failing', reason: 'the last backup failed: S3 unreachable' };
    const { port } = await start();
    expect((await get(port, '/healthz')).status).toBe(503);
    const res = await get(port, '/readyz');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ready' });
    health = { healthy: true, status: 'ok', reason: 'no backup is due yet' };
  });

  it('serves /metrics in the Prometheus text format', async () => {
    const { port } = await start();
    const res = await get(port, '/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain; version=0.0.4');
    expect(res.body).toBe('reshifter_up 1\n');
    const head = await get(port, '/metrics', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('answers unknown paths with a JSON 404 and other methods with 405', async () => {
    const { port } = await start();
    const res = await get(port, '/admin');
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body)).toEqual({ error: 'not found', paths: ['/healthz', '/readyz', '/livez', '/metrics'] });
    const post = await get(port, '/healthz', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  it('says in its start-up line the paths it serves, and only those: the API and the UI when it is given them', async () => {
    const listening = async (routes?: { paths: string[] }) => {
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(...chunk.toString().split('\n').filter(Boolean));
          cb();
        },
      });
      server = await startHttpServer({
        port: 0,
        host: '127.0.0.1',
        log: createLogger('info', sink),
        health: () => health,
        metrics: async () => ({ contentType: 't', body: '' }),
        ...(routes && { routes: { paths: routes.paths, handle: async () => false } }),
      });
      const line = lines.map((l) => JSON.parse(l) as { msg: string; paths: string[] }).find((l) => l.msg === 'http server listening');
      const notFound = JSON.parse((await get(server.port, '/nothing-here')).body) as { paths: string[] };
      await server.close();
      server = undefined;
      return { logged: line?.paths, notFound: notFound.paths };
    };
    expect(await listening()).toEqual({ logged: ['/healthz', '/readyz', '/livez', '/metrics'], notFound: ['/healthz', '/readyz', '/livez', '/metrics'] });
    const both = ['/healthz', '/readyz', '/livez', '/metrics', '/api/v1/', '/', '/ui/'];
    expect(await listening({ paths: ['/api/v1/', '/', '/ui/'] })).toEqual({ logged: both, notFound: both });
  });

  it('refuses oversized headers', async () => {
    const { port } = await start();
    const res = await get(port, '/healthz', { headers: { 'x-big': 'x'.repeat(20_000) } });
    expect(res.status).toBe(431);
    // As JSON naming the cause, as every other refusal (before: Node's bare status line, no body); a query that long too.
    expect(res.type).toContain('application/json');
    expect(JSON.parse(res.body)).toEqual({ error: expect.stringContaining('larger than 16 KiB'), code: 'headers_too_large' });
    const query = await get(port, `/api/v1/backups?strategy=${'a'.repeat(20_000)}`);
    expect([query.status, JSON.parse(query.body).code]).toEqual([431, 'headers_too_large']);
  });

  it('answers a request that is not HTTP with a JSON 400', async () => {
    const { port } = await start();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(answer.split('\r\n\r\n')[1]!)).toMatchObject({ code: 'bad_request', error: expect.stringContaining('not valid HTTP') });
  });

  it('stops listening on close, and a taken port is an error naming RS_HTTP_PORT', async () => {
    const first = await start();
    await expect(startHttpServer({ port: first.port, host: '127.0.0.1', log, health: () => health, metrics: async () => ({ contentType: 't', body: '' }) }))
      .rejects.toThrow(`cannot serve HTTP on 127.0.0.1:${first.port} (RS_HTTP_ADDRESS, RS_HTTP_PORT): the port is already in use`);
    await first.close();
    await expect(get(first.port, '/healthz')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('answers its probes while one client holds open every connection it may', async () => {
    // One client (another address on loopback: 127.0.0.2) opens 100 connections and sends nothing. With one cap of 64
    // connections, it held them all (for up to 35 s, then again) and /livez failed: the kubelet restarts the pod.
    const { port } = await start();
    const hog: Socket[] = [];
    let closed = 0;
    let pastShare: () => void = () => undefined;
    const allPastShareClosed = new Promise<void>((resolve) => (pastShare = resolve));
    try {
      for (let i = 0; i < 100; i++) {
        const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
        s.on('error', () => undefined);
        s.once('close', () => {
          if (++closed === 100 - 64) pastShare();
        });
        hog.push(s);
      }
      // Those past its share of 64 are closed at once; the rest stay (until the header timeout).
      await allPastShareClosed;
      const res = await get(port, '/livez');
      expect(res.status).toBe(200);
    } finally {
      for (const s of hog) s.destroy();
    }
  });
});
