import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/load-config.js';
import type { Config } from '../../src/config/types.js';
import type { JobView } from '../../src/core/jobs.js';
import { JobQueue } from '../../src/core/jobs.js';
import { createLogger } from '../../src/log.js';
import { API_PATHS, createApiServices, handleApi, type ApiDeps } from '../../src/server/api/index.js';
import { startHttpServer, type RunningHttpServer } from '../../src/server/http-server.js';
import { handleUi, UI_PATHS } from '../../src/server/ui/handle-ui.js';
import { openRepository } from '../../src/ops/repository.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** The API and UI served in this process as `run` serves them, against whatever etcd and store `env` names. */
export interface TestApi {
  url: string;
  config: Config;
  jobs: JobQueue;
  deps: ApiDeps;
  /** Every log line written so far (pino JSON, debug level). */
  logs(): string;
  /** fetch against the server, with the token when `token` is given. */
  call(path: string, init?: RequestInit & { token?: string; json?: unknown }): Promise<Response>;
  /** Polls a job until it has finished. */
  waitJob(id: string, token?: string): Promise<JobView>;
  stop(): Promise<void>;
}

export async function startApi(env: Record<string, string>, opts: { maxHeavyReads?: number; waitMs?: number } = {}): Promise<TestApi> {
  const loaded = loadConfig({ RS_HTTP_PORT: '0', ...env });
  if (loaded.errors) throw new Error(loaded.errors.join('; '));
  const config = loaded.config;
  let logText = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logText += chunk.toString();
      cb();
    },
  });
  const log = createLogger('debug', sink);
  const controller = new AbortController();
  const repo = openRepository(config);
  const jobs = new JobQueue();
  const ctx = { config, log, args: { positionals: [], flags: {} }, signal: controller.signal, print: () => undefined };
  const deps: ApiDeps = {
    jobs,
    log,
    services: createApiServices(ctx, repo),
    // Served on loopback below, where reads of the cluster's contents are open, as `run` does.
    contentOpen: true,
    ...(config.apiToken !== undefined && { token: config.apiToken }),
    ...(opts.maxHeavyReads !== undefined && { maxHeavyReads: opts.maxHeavyReads }),
    ...(opts.waitMs !== undefined && { waitMs: opts.waitMs }),
  };
  const server: RunningHttpServer = await startHttpServer({
    port: 0,
    host: '127.0.0.1',
    log,
    health: () => ({ healthy: true, status: 'ok', reason: 'test' }),
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    routes: { paths: [...API_PATHS, ...UI_PATHS], handle: async (req, res) => (await handleApi(req, res, deps)) || (await handleUi(req, res)) },
  });
  const url = `http://127.0.0.1:${server.port}`;
  const call: TestApi['call'] = (path, init = {}) => {
    const { token, json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (token !== undefined) headers.set('Authorization', `Bearer ${token}`);
    if (json !== undefined) headers.set('Content-Type', 'application/json');
    return fetch(`${url}${path}`, { ...rest, headers, ...(json !== undefined && { body: JSON.stringify(json) }) });
  };
  return {
    url,
    config,
    jobs,
    deps,
    logs: () => logText,
    call,
    async waitJob(id, token) {
      for (;;) {
        const res = await call(`/api/v1/jobs/${id}`, token !== undefined ? { token } : {});
        const job = (await res.json()) as JobView;
        if (job.state === 'succeeded' || job.state === 'failed') return job;
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      controller.abort();
      await jobs.close();
      await server.close();
      await repo.store.close();
    },
  };
}
