import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/**
 * An S3-compatible server whose listing pages do not add up: it says a listing goes on (IsTruncated) and hands out the
 * token it gave before (a buggy gateway, or a hostile endpoint), or no token at all. reshifter followed the repeated
 * token forever, keeping every key of the same page once more each time (a hang whose memory only grows), and took a
 * listing without a token for complete (silently short). The server here is a stand-in for that endpoint: what is
 * under test is reshifter's handling of its replies, which s3rver never gives. Pages with a new token each time but no
 * new key, or nothing in them, are refused too.
 */
type Mode = 'same-token' | 'no-token' | 'same-keys' | 'empty';

let server: Server;
let endpoint: string;
let mode: Mode = 'same-token';
let listRequests = 0;
/** Pages with IsTruncated before the server finally answers a last page (so a reshifter that follows it ends). */
const LOOPING_PAGES = 5;
/** The same for empty pages, more of which it takes to tell a listing that never ends. */
const EMPTY_LOOPING_PAGES = 300;

/** A page of one key (page-n.txt), or of none (n undefined). */
function page(prefix: string, truncated: boolean, token: string | undefined, n: number | undefined): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Name>bkt</Name><Prefix>${prefix}</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>` +
    `<IsTruncated>${truncated}</IsTruncated>${token !== undefined ? `<NextContinuationToken>${token}</NextContinuationToken>` : ''}` +
    (n === undefined ? '' : `<Contents><Key>${prefix}page-${n}.txt</Key><Size>1</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>`) +
    '</ListBucketResult>'
  );
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'GET' || !url.searchParams.has('list-type')) {
      res.writeHead(404, { 'Content-Type': 'application/xml' });
      res.end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>');
      return;
    }
    listRequests++;
    const prefix = url.searchParams.get('prefix') ?? '';
    const last = listRequests > (mode === 'empty' ? EMPTY_LOOPING_PAGES : LOOPING_PAGES);
    const fresh = mode === 'same-keys' || mode === 'empty';
    const token = last || mode === 'no-token' ? undefined : fresh ? `token-${listRequests}` : 'the-same-token';
    const key = mode === 'same-keys' ? 1 : mode === 'empty' && !last ? undefined : listRequests;
    res.writeHead(200, { 'Content-Type': 'application/xml' });
    res.end(page(prefix, !last, token, key));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
afterEach(() => {
  listRequests = 0;
});

const env = () => ({
  RS_S3_BUCKET: 'bkt',
  RS_S3_ENDPOINT: endpoint,
  RS_S3_REGION: 'us-east-1',
  RS_S3_FORCE_PATH_STYLE: 'true',
  ACCESS_KEY_ID: 'AKIDLISTING',
  SECRET_ACCESS_KEY: 'listing-secret',
  RS_S3_RETRY_WINDOW: '1s',
});

it('refuses a listing whose next page is the page it just read (the same continuation token again)', async () => {
  mode = 'same-token';
  const res = await runCli(['list'], env());
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toMatch(/listing s3:\/\/bkt\/default.*same NextContinuationToken twice/);
  expect(res.stderr).toContain(`the S3 server (RS_S3_ENDPOINT=${endpoint}) handed out`);
  // It stopped at the repeat: the first page, and the one whose token it had seen.
  expect(listRequests).toBe(2);
});

it('refuses a listing that says it goes on but gives no token to read the rest', async () => {
  mode = 'no-token';
  const res = await runCli(['list'], env());
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toMatch(/listing s3:\/\/bkt\/default.*IsTruncated.*no NextContinuationToken/);
  expect(listRequests).toBe(1);
});

it('refuses a listing whose pages bring no new key, each with a new token (found by a security pass)', async () => {
  // A server that answered every page with the keys it had sent, under a fresh token each time, was followed for
  // ever, the listing's memory growing.
  mode = 'same-keys';
  const res = await runCli(['list'], env());
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toMatch(/listing s3:\/\/bkt\/default.*a page whose keys all come at or before ones it had listed already \("default\/page-1.txt"\)/);
  expect(listRequests).toBe(2);
});

it('refuses a listing of empty pages that never ends, each with a new token', async () => {
  mode = 'empty';
  const res = await runCli(['list'], env());
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toMatch(/listing s3:\/\/bkt\/default.*100 pages in a row with nothing in them/);
  expect(res.stderr).toContain(`the S3 server (RS_S3_ENDPOINT=${endpoint}) sent`);
  expect(listRequests).toBe(100);
});

it('refuses the same of the listing of the clusters in the store', async () => {
  mode = 'same-token';
  const res = await runCli(['list', '--all-clusters'], env());
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toMatch(/same NextContinuationToken twice/);
  expect(listRequests).toBe(2);
});
