import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/** Largest request body the API reads; every body it takes is a few hundred bytes of JSON. */
export const MAX_BODY_BYTES = 64 * 1024;

/** An API failure with its HTTP status: `{ error, code, field? }` goes back to the client as JSON. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** What a route handler answers: JSON (`json`), a byte stream (`stream`), or nothing (204). */
export interface ApiReply {
  status: number;
  json?: unknown;
  stream?: Readable;
  headers?: Record<string, string>;
}

/** Writes a JSON reply; HEAD gets the headers only. */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Writes an ApiError as `{ error, code, field? }`. */
export function sendError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.status, { error: err.message, code: err.code, ...(err.field !== undefined && { field: err.field }) }, err.headers);
}

/**
 * Reads a JSON request body of at most `limit` bytes. An empty body is `undefined`. Refuses (413) a body that is
 * too large before reading it when Content-Length says so, and while reading when it does not; refuses (415) a body
 * that is not `application/json` and (400) one that does not parse.
 */
export async function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const declared = req.headers['content-length'];
  const tooLarge = () => new ApiError(413, 'body_too_large', `the request body is larger than ${limit} bytes`, undefined, { Connection: 'close' });
  if (declared !== undefined && Number(declared) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  if (total === 0) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ApiError(415, 'unsupported_media_type', 'the request body must be JSON (Content-Type: application/json)');
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (err) {
    throw new ApiError(400, 'bad_request', `the request body is not valid JSON (${(err as Error).message})`);
  }
}
