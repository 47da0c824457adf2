import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startS3Proxy, type Fault, type S3Proxy } from '../helpers/s3-proxy.js';

/**
 * The AWS CLI's variables (AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL) where reshifter's
 * are unset, and a bucket in another region than the one requests are signed for. s3rver takes any region, so a proxy in front of it
 * answers as AWS S3 does for a bucket in eu-west-1 (its documented error replies): 301 PermanentRedirect with the
 * bucket's region in x-amz-bucket-region (a request to another region's endpoint), or 400 AuthorizationHeaderMalformed
 * with <Region> (signed for the wrong region at the right endpoint). An EKS pod with IRSA or Pod Identity has
 * AWS_REGION set: reshifter signs for it when RS_S3_REGION is unset, as the AWS CLI would.
 */
describe("the AWS CLI's variables, and a bucket in another region", () => {
  let etcd: TestEtcd;
  let s3: TestS3;
  let proxy: S3Proxy;
  let reply: 'redirect' | 'malformed' = 'redirect';
  const signedFor = (authorization: unknown) => /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(String(authorization ?? ''))?.[1];

  beforeAll(async () => {
    [etcd, s3] = await Promise.all([startEtcd(), startS3('backups')]);
    await etcd.ctl(['put', '/registry/namespaces/default', '{"kind":"Namespace"}']);
    proxy = await startS3Proxy(s3.endpoint);
    proxy.fault = ({ headers }): Fault | undefined => {
      if (signedFor(headers.authorization) === 'eu-west-1') return undefined;
      const inRegion = { 'x-amz-bucket-region': 'eu-west-1' };
      if (reply === 'redirect') return { status: 301, code: 'PermanentRedirect', headers: inRegion, elements: { Bucket: 'backups', Endpoint: 'backups.s3.eu-west-1.amazonaws.com' } };
      return { status: 400, code: 'AuthorizationHeaderMalformed', elements: { Region: 'eu-west-1' } };
    };
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([etcd?.stop(), s3?.stop()]);
  });

  /** The server's variables but its RS_S3_REGION: the region comes from `over`, or is the default. */
  const env = (over: Record<string, string> = {}) => {
    const { RS_S3_REGION: _, ...server } = s3.env;
    return { RS_ETCD_ENDPOINTS: etcd.endpoint, ...server, RS_S3_ENDPOINT: proxy.endpoint, ...over };
  };

  it.each([
    ['AWS_REGION', { AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'us-east-2' }],
    ['AWS_DEFAULT_REGION', { AWS_DEFAULT_REGION: 'eu-west-1' }],
    ['RS_S3_REGION over AWS_REGION', { RS_S3_REGION: 'eu-west-1', AWS_REGION: 'us-east-2' }],
  ])('RS_S3_REGION unset or set: %s is the region requests are signed for', async (_what, over) => {
    const before = proxy.requests.length;
    const res = await runCli(['backup'], env(over));
    expect(res.code, res.stderr.slice(-2000)).toBe(0);
    const regions = new Set(proxy.requests.slice(before).map((r) => signedFor(r.headers.authorization)));
    expect([...regions]).toEqual(['eu-west-1']);
    const list = await runCli(['list'], env(over));
    expect(list.code, list.stderr.slice(-2000)).toBe(0);
    expect(list.stdout).toMatch(/raw|snapshot/);
  });

  it.each(['redirect', 'malformed'] as const)('signed for the default us-east-1 (%s): backup and list name the region to set', async (kind) => {
    reply = kind;
    for (const args of [['backup'], ['list']]) {
      const res = await runCli(args, env());
      expect(res.code, `${args[0]}: ${res.stderr.slice(-2000)}`).toBe(1);
      expect(res.stderr.trimEnd().split('\n').at(-1), args[0]).toMatch(
        /^reshifter: (uploading|listing|opening) s3:\/\/backups\/\S*: bucket "backups" is in region eu-west-1, not us-east-1: set RS_S3_REGION=eu-west-1$/,
      );
    }
  });

  it('a bad AWS_REGION or AWS_ENDPOINT_URL is refused naming it, as the RS_ variable would be', async () => {
    const { RS_S3_ENDPOINT: _, ...server } = env();
    const res = await runCli(['list'], { ...server, AWS_REGION: 'EU West 1', AWS_ENDPOINT_URL: 'ftp://minio:9000' });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/AWS_REGION was invalid: "EU West 1" is not a region name/);
    expect(res.stderr).toMatch(/AWS_ENDPOINT_URL was invalid: "ftp:\/\/minio:9000" has the scheme ftp: it must be http or https/);
  });

  /**
   * `AWS_ENDPOINT_URL=http://minio:9000`, as with `aws s3 ls`: by a host name (not an IP address), which the AWS SDK
   * alone would address virtual-hosted style, as `backups.localhost` (a minute of retries, then "getaddrinfo
   * ENOTFOUND"); read for RS_S3_ENDPOINT it is path-style, as RS_S3_ENDPOINT is.
   */
  it.each([
    ['AWS_ENDPOINT_URL', (url: string) => ({ AWS_ENDPOINT_URL: url })],
    ['AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL', (url: string) => ({ AWS_ENDPOINT_URL_S3: url, AWS_ENDPOINT_URL: 'http://127.0.0.1:9' })],
    ['RS_S3_ENDPOINT over AWS_ENDPOINT_URL_S3', (url: string) => ({ RS_S3_ENDPOINT: url, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' })],
  ])('RS_S3_ENDPOINT unset or set: %s is the server, path-style', async (_what, endpointEnv) => {
    const { RS_S3_ENDPOINT: _, ...server } = env({ AWS_REGION: 'eu-west-1' });
    const before = proxy.requests.length;
    const res = await runCli(['backup'], { ...server, ...endpointEnv(proxy.endpoint.replace('127.0.0.1', 'localhost')) });
    expect(res.code, res.stderr.slice(-2000)).toBe(0);
    const seen = proxy.requests.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((r) => !r.url.startsWith('/backups/') && !r.url.startsWith('/backups?'))).toEqual([]);
  });

  it('an endpoint read from AWS_ENDPOINT_URL is named by that variable in messages', async () => {
    const { RS_S3_ENDPOINT: _, ...server } = env();
    const res = await runCli(['list'], { ...server, AWS_ENDPOINT_URL: proxy.endpoint.replace('http:', 'https:'), RS_S3_RETRY_WINDOW: '1s' });
    expect(res.code).toBe(1);
    expect(res.stderr.trimEnd().split('\n').at(-1)).toMatch(/: AWS_ENDPOINT_URL=https:\/\/127\.0\.0\.1:\d+ is https, but the server there does not speak TLS/);
  });
});
