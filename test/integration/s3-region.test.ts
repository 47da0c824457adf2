import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startS3Proxy, type Fault, type S3Proxy } from '../helpers/s3-proxy.js';

/**
 * A bucket in another region than the one requests are signed for. s3rver takes any region, so a proxy in front of it
 * answers as AWS S3 does for a bucket in eu-west-1 (its documented error replies): 301 PermanentRedirect with the
 * bucket's region in x-amz-bucket-region (a request to another region's endpoint), or 400 AuthorizationHeaderMalformed
 * with <Region> (signed for the wrong region at the right endpoint). An EKS pod with IRSA or Pod Identity has
 * AWS_REGION set: reshifter signs for it when RS_S3_REGION is unset, as the AWS CLI would.
 */
describe('the S3 bucket lives in another region', () => {
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

  it('a bad AWS_REGION is refused naming AWS_REGION, as a bad RS_S3_REGION is', async () => {
    const res = await runCli(['list'], env({ AWS_REGION: 'EU West 1' }));
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/AWS_REGION was invalid: "EU West 1" is not a region name/);
  });
});
