// The page's only way to the server: the JSON API, with the token (when one was entered) as a bearer token.

const TOKEN_KEY = 'reshifter.apiToken';

/** An API answer that was not a success: status, the server's message and the field it names. */
export class ApiFailure extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `the server answered ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.field = body && body.field;
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * Where the API is: beside the folder this module was served from (`<base>/ui/api.js`), so that behind a reverse
 * proxy that serves the page under a path (`https://host/reshifter/`) the calls keep that path too.
 */
const API_BASE = new URL('../api/v1', import.meta.url).pathname;

/** fetch under /api/v1 with the token; a network failure becomes an ApiFailure, an abort stays an AbortError. */
async function request(path, { method = 'GET', headers = {}, body, signal } = {}) {
  const token = getToken();
  try {
    return await fetch(`${API_BASE}${path}`, { method, headers: token ? { ...headers, Authorization: `Bearer ${token}` } : headers, signal, body });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiFailure(0, { error: 'the server cannot be reached' });
  }
}

/** The ApiFailure of an answer that was not a success, with the server's JSON error when it sent one. */
async function failure(res) {
  let data;
  try {
    data = await res.json();
  } catch {
    data = undefined;
  }
  return new ApiFailure(res.status, data);
}

/** Calls the API; resolves with the parsed JSON (undefined for 204), rejects with an ApiFailure. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await request(path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw await failure(res);
  if (res.status === 204) return undefined;
  try {
    return await res.json();
  } catch {
    return undefined;
  }
}

/**
 * Downloads a backup's stored bytes. A plain link cannot carry the bearer token, so the page fetches them itself,
 * calling `onProgress(received, total)` as they arrive, and resolves with a Blob (which the browser may keep on
 * disk), the file name the server gave and the sha256 it says the bytes have. Rejects with an ApiFailure, or an
 * AbortError when `signal` aborts.
 */
export async function downloadArtifact(id, { signal, onProgress } = {}) {
  const res = await request(`/backups/${encodeURIComponent(id)}/artifact`, { headers: { Accept: 'application/octet-stream' }, signal });
  if (!res.ok) throw await failure(res);
  const total = Number(res.headers.get('Content-Length')) || undefined;
  const reader = res.body.getReader();
  const chunks = [];
  let received = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.length;
      onProgress?.(received, total);
    }
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiFailure(0, { error: `the download broke off after ${received} bytes` });
  }
  if (total !== undefined && received !== total) throw new ApiFailure(0, { error: `the download ended after ${received} of ${total} bytes` });
  const filename = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '')?.[1];
  return { blob: new Blob(chunks, { type: 'application/octet-stream' }), filename, sha256: res.headers.get('X-Content-SHA256') ?? undefined };
}

/** Waits for a job to finish, calling `onUpdate` with each state seen; resolves with the finished job. */
export async function waitForJob(id, onUpdate, { intervalMs = 700, signal } = {}) {
  for (;;) {
    const job = await api(`/jobs/${encodeURIComponent(id)}`, { signal });
    onUpdate(job);
    if (job.state === 'succeeded' || job.state === 'failed') return job;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
