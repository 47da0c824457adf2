import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { skipPayloadHashOverHttps } from '../../../src/store/s3-payload-hash.js';

/** Signs a PutObject to `endpoint` and returns its headers as they would be sent (no network: the handler stops it). */
async function signedHeaders(endpoint: string): Promise<Record<string, string>> {
  let headers: Record<string, string> = {};
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
    requestHandler: {
      handle: async (req: { headers: Record<string, string> }) => {
        headers = req.headers;
        throw new Error('captured');
      },
    } as never,
  });
  skipPayloadHashOverHttps(client);
  await expect(client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: Buffer.from('backup bytes') }))).rejects.toThrow('captured');
  client.destroy();
  return headers;
}

describe('payload hash of S3 uploads', () => {
  it('signs the sha256 of the body over http (the only integrity check of a part there)', async () => {
    const h = await signedHeaders('http://127.0.0.1:9');
    expect(h['x-amz-content-sha256']).toBe(createHash('sha256').update('backup bytes').digest('hex'));
    expect(h.authorization).toMatch(/SignedHeaders=[^,]*x-amz-content-sha256/);
  });

  it('sends UNSIGNED-PAYLOAD over https, where TLS protects the bytes, and still signs that header', async () => {
    const h = await signedHeaders('https://127.0.0.1:9');
    expect(h['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(h.authorization).toMatch(/SignedHeaders=[^,]*x-amz-content-sha256/);
  });
});
