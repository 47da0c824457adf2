import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REREAD_MS, rereadingCredentials } from '../../../src/store/s3-credentials.js';

/** The AWS SDK's default chain reading a real AWS_SHARED_CREDENTIALS_FILE, rewritten as a rotation does. */
let dir: string;
const saved = { ...process.env };
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-s3-creds-'));
  for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials');
  process.env.AWS_CONFIG_FILE = join(dir, 'no-config');
});
afterAll(async () => {
  process.env = saved;
  await rm(dir, { recursive: true, force: true });
});

const write = (id: string) => writeFile(join(dir, 'credentials'), `[default]\naws_access_key_id = ${id}\naws_secret_access_key = s-${id}\n`);

it('credentials from a shared credentials file are read again when a minute old, and after S3 refused them', async () => {
  let now = 1_000_000;
  const creds = rereadingCredentials({}, () => now);
  await write('KEYONE');
  expect((await creds.provider()).accessKeyId).toBe('KEYONE');
  await write('KEYTWO');
  now += REREAD_MS - 1;
  expect((await creds.provider()).accessKeyId).toBe('KEYONE');
  now += 1;
  expect((await creds.provider()).accessKeyId).toBe('KEYTWO');
  await write('KEYTHREE');
  creds.reread();
  expect((await creds.provider()).accessKeyId).toBe('KEYTHREE');
});

it('a file caught half-written keeps the credentials read before', async () => {
  let now = 2_000_000;
  const creds = rereadingCredentials({}, () => now);
  await write('KEYONE');
  expect((await creds.provider()).accessKeyId).toBe('KEYONE');
  await writeFile(join(dir, 'credentials'), '[default]\naws_access_');
  creds.reread();
  expect((await creds.provider()).accessKeyId).toBe('KEYONE');
  await write('KEYTWO');
  now += REREAD_MS;
  expect((await creds.provider()).accessKeyId).toBe('KEYTWO');
});
