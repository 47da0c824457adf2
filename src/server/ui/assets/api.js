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

/** Calls the API; resolves with the parsed JSON (undefined for 204), rejects with an ApiFailure. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiFailure(0, { error: 'the server cannot be reached' });
  }
  if (res.status === 204) return undefined;
  let data;
  try {
    data = await res.json();
  } catch {
    data = undefined;
  }
  if (!res.ok) throw new ApiFailure(res.status, data);
  return data;
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
