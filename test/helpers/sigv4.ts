import { createHash, createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
/** RFC 3986 encoding, as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ */
const encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Checks an S3 request's AWS Signature Version 4 (the Authorization header) against `secret`, as S3 does: the
 * canonical request from the method, the path as sent (S3 does not normalise it), the sorted query, the signed
 * headers and the payload hash the client declared. Returns the access key id it was signed for and whether the
 * signature matches; undefined for a request without a SigV4 Authorization header. s3rver checks only the access key
 * of such a request, never its signature: a wrong secret key passes it.
 */
export function checkSigV4(method: string, url: string, headers: IncomingHttpHeaders, secret: string): { accessKeyId: string; matches: boolean } | undefined {
  const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
    String(headers.authorization ?? ''),
  );
  if (!auth) return undefined;
  const [, accessKeyId, day, region, service, signedHeaders, signature] = auth as unknown as [string, string, string, string, string, string, string];
  const [path = '/', rawQuery = ''] = url.split(/\?(.*)/s);
  const query = rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const [k = '', v = ''] = p.split(/=(.*)/s);
      return [encode(decodeURIComponent(k.replace(/\+/g, ' '))), encode(decodeURIComponent(v.replace(/\+/g, ' ')))] as const;
    })
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const names = signedHeaders.split(';');
  const canonicalHeaders = names.map((n) => `${n}:${String(headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const payload = String(headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD');
  const canonical = [method, path, query, canonicalHeaders, signedHeaders, payload].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', String(headers['x-amz-date']), scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
  return { accessKeyId, matches: hmac(key, toSign).toString('hex') === signature };
}
