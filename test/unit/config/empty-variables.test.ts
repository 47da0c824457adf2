import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KNOWN_VARIABLES, loadConfig } from '../../../src/config/load-config.js';
import { configTable } from '../../../src/config/readme-table.js';
import { VARIABLES } from '../../../src/config/variables.js';

const dir = mkdtempSync(join(tmpdir(), 'rs-emptyvars-'));
const aFile = join(dir, 'token');
writeFileSync(aFile, 'a-token\n');

/**
 * Variables set but empty, as an empty ConfigMap or Secret key leaves them. Where that would silently change what
 * reshifter does (where backups go, whether they are encrypted or taken, what they hold or keep, what is trusted),
 * it is refused, naming the variable and the two ways out: [variable, what the message asks for].
 */
const REFUSED: Array<[string, RegExp]> = [
  ['RS_ETCD_ENDPOINTS', /give etcd's client URLs \(like https:\/\/10\.0\.0\.5:2379\), or unset it for http:\/\/127\.0\.0\.1:2379$/],
  ['RS_ETCD_ENDPOINT', /give etcd's client URLs/],
  ['RS_ETCD_CA_CERT', /give the file of the CA of etcd's server certificate, or unset it to trust the system's CAs$/],
  ['RS_ETCD_CLIENT_CERT', /give the client certificate's file, or unset it with RS_ETCD_CLIENT_KEY for no client certificate$/],
  ['RS_ETCD_CLIENT_KEY', /give the client certificate's key file, or unset it with RS_ETCD_CLIENT_CERT/],
  ['RS_ETCD_USERNAME', /give etcd's user name, or unset it with RS_ETCD_PASSWORD for no user\/password auth$/],
  ['RS_ETCD_PASSWORD', /give the user's password, or unset it with RS_ETCD_USERNAME/],
  ['RS_ETCD_API_VERSION', /give auto, v2 or v3, or unset it for auto$/],
  ['RS_BACKUP_STRATEGY', /give snapshot, raw, render, filter:<resources> or checkpoint, or unset it for snapshot \(raw from a v2 etcd\)$/],
  ['RS_CLUSTER_NAME', /give this cluster's name \(its folder in the store\), or unset it for default$/],
  ['RS_BACKUP_DIR', /give the local store's folder, or unset it for \.\/backups$/],
  ['RS_S3_BUCKET', /give the bucket, or unset it for the local store \(RS_BACKUP_DIR\)$/],
  ['RS_S3_ENDPOINT', /give the S3-compatible server's URL, or unset it for AWS$/],
  ['RS_S3_CA_CERT', /give the file of the CA of the S3 server's certificate, or unset it to trust the system's CAs$/],
  ['RS_S3_FORCE_PATH_STYLE', /give true or false, or unset it for true with RS_S3_ENDPOINT, else false$/],
  ['RS_S3_SSE', /give AES256 or aws:kms, or unset it for the bucket's default encryption$/],
  ['RS_S3_SSE_KMS_KEY_ID', /give the KMS key's ID or ARN, or unset it for the AWS managed key \(aws\/s3\)$/],
  ['ACCESS_KEY_ID', /give the access key ID, or unset it with SECRET_ACCESS_KEY for the AWS SDK's default credentials/],
  ['SECRET_ACCESS_KEY', /give the secret access key, or unset it with ACCESS_KEY_ID for the AWS SDK's default credentials/],
  ['RS_COMPRESSION', /give zstd, gzip or none, or unset it for zstd$/],
  ['RS_COMPRESSION_LEVEL', /give a level \(zstd 1-19, gzip 1-9\), or unset it for the compression's default/],
  ['RS_ENCRYPTION_RECIPIENTS', /give age public keys \(age1\.\.\.\), or unset it to write backups unencrypted \(or with RS_ENCRYPTION_PASSPHRASE\)$/],
  ['RS_ENCRYPTION_IDENTITY_FILE', /give the file of an age identity that reads the backups, or unset it when no backup is encrypted to a key$/],
  ['RS_ENCRYPTION_IDENTITY', /give an age secret key \(AGE-SECRET-KEY-1\.\.\.\), or unset it when no backup is encrypted to a key$/],
  ['RS_ENCRYPTION_PASSPHRASE', /give the passphrase, or unset it to write backups unencrypted \(or to RS_ENCRYPTION_RECIPIENTS\)$/],
  ['RS_SCHEDULE', /give a cron expression \(like 0 \*\/6 \* \* \*\), or unset it for run to only serve HTTP, taking no backups$/],
  ['RS_RETENTION_KEEP_LAST', /give 1 or more, or unset it to switch this rule off$/],
  ['RS_RETENTION_KEEP_HOURLY', /give 1 or more, or unset it to switch this rule off$/],
  ['RS_RETENTION_KEEP_DAILY', /give 1 or more/],
  ['RS_RETENTION_KEEP_WEEKLY', /give 1 or more/],
  ['RS_RETENTION_KEEP_MONTHLY', /give 1 or more/],
  ['RS_RETENTION_MAX_AGE', /give an age \(like 30d\), or unset it to switch this rule off$/],
  ['RS_DELTA_INTERVAL', /give an interval \(like 2s\), or 0 for off, or unset it for off$/],
  ['RS_INCLUDE_NAMESPACES', /give namespace names, or unset it for every namespace$/],
  ['RS_EXCLUDE_NAMESPACES', /give namespace names, or unset it to exclude none$/],
  ['RS_INCLUDE_RESOURCES', /give resource names, or unset it for every resource$/],
  ['RS_EXCLUDE_RESOURCES', /give resource names, or unset it to exclude none$/],
  ['RS_CHECKPOINT_TARGETS', /give the containers to checkpoint \(namespace\/pod\/container\), or unset it when RS_BACKUP_STRATEGY is not checkpoint$/],
  ['RS_KUBELET_URL', /give the kubelet's https URL, or unset it for https:\/\/127\.0\.0\.1:10250$/],
  ['RS_KUBELET_CA_CERT', /give the file of the CA of the kubelet's serving certificate, or unset it to trust the system's CAs$/],
  ['RS_KUBELET_CLIENT_CERT', /or unset it with RS_KUBELET_CLIENT_KEY for no client certificate$/],
  ['RS_KUBELET_CLIENT_KEY', /or unset it with RS_KUBELET_CLIENT_CERT for no client certificate$/],
  ['RS_KUBELET_TOKEN_FILE', /give the bearer token's file, or unset it for no token$/],
  ['RS_KUBELET_SERVER_NAME', /give the name the kubelet's certificate shows, or unset it for the URL's host$/],
  ['RS_CHECKPOINT_DIR', /give the kubelet's checkpoint folder as this process sees it, or unset it for \/var\/lib\/kubelet\/checkpoints$/],
  ['RS_CHECKPOINT_KEEP_LOCAL', /give true or false, or unset it for false$/],
  ['RS_HTTP_PORT', /give a port \(0 disables HTTP\), or unset it for 8080$/],
  ['RS_HTTP_ADDRESS', /give an address \(0\.0\.0\.0 or :: for every interface\), or unset it for 127\.0\.0\.1$/],
  ['RS_HTTP_ALLOWED_HOSTS', /give host names, or unset it for no names beyond localhost and IP addresses$/],
  ['RS_API_READ_OPEN', /give true or false, or unset it for false$/],
  ['RS_PUSHGATEWAY_URL', /give the Pushgateway's URL, or unset it to push no metrics$/],
  ['RS_API_TOKEN', /give a token of 16 characters or more, or unset it for a read-only API$/],
  ['LOG_LEVEL', /give trace, debug, info, warn, error, fatal or silent, or unset it for info$/],
];

/** Where empty has one obvious, harmless meaning it is taken: as unset (or, for the S3 prefix, no folder, the same). */
const ACCEPTED: string[] = [
  'RS_ETCD_TIMEOUT', 'RS_S3_REGION', 'RS_S3_PREFIX', 'RS_S3_REQUEST_TIMEOUT', 'RS_S3_RETRY_WINDOW', 'RS_DELTA_MAX_BYTES', 'RS_KUBE_PREFIXES',
  'RS_CHECKPOINT_TIMEOUT', 'RS_TMP_DIR',
];

describe('a variable set but empty', () => {
  it.each(REFUSED)('%s="" is refused, naming it, saying it is empty and what to do', (name, message) => {
    for (const value of ['', ' ', '\t\n']) {
      const { errors } = loadConfig({ [name]: value });
      expect(errors, `${name}=${JSON.stringify(value)} was accepted`).toHaveLength(1);
      expect(errors![0]).toMatch(new RegExp(`^${name} is set but empty: `));
      expect(errors![0]).toMatch(message);
    }
  });

  it.each(ACCEPTED)('%s="" is read as unset, and its README row says so', (name) => {
    const unset = loadConfig({ RS_S3_BUCKET: 'etcd-backups' });
    for (const value of ['', '  ']) {
      const set = loadConfig({ RS_S3_BUCKET: 'etcd-backups', [name]: value });
      expect(set.errors, `${name}=${JSON.stringify(value)}`).toBeUndefined();
      expect(set.config).toEqual(unset.config);
    }
    const v = VARIABLES.find((x) => x.name === name)!;
    const row = configTable().find((r) => r.startsWith(`| \`${name}\``));
    expect(row).toContain(`set but empty: ${(v.empty as { means: string }).means}`);
  });

  it('S3 prefix "" is no folder: the top of the bucket', () => {
    expect(loadConfig({ RS_S3_BUCKET: 'etcd-backups', RS_S3_PREFIX: '' }).config?.store).toMatchObject({ kind: 's3', prefix: '' });
  });

  it('is refused once, not again by a rule across variables (both or neither, is not set)', () => {
    for (const env of [
      { RS_ETCD_CLIENT_KEY: '' },
      { RS_ETCD_PASSWORD: '' },
      { RS_ETCD_USERNAME: 'root', RS_ETCD_PASSWORD: '' },
      { SECRET_ACCESS_KEY: ' ' },
      { RS_BACKUP_STRATEGY: 'checkpoint', RS_CHECKPOINT_TARGETS: '', RS_KUBELET_TOKEN_FILE: aFile, RS_CHECKPOINT_DIR: dir },
      { RS_BACKUP_STRATEGY: 'checkpoint', RS_CHECKPOINT_TARGETS: 'shop/*', RS_KUBELET_TOKEN_FILE: '', RS_CHECKPOINT_DIR: dir },
      { RS_ETCD_CLIENT_CERT: '', RS_ETCD_CLIENT_KEY: aFile },
    ]) {
      const { errors } = loadConfig(env);
      expect(errors, JSON.stringify(env)).toHaveLength(1);
      expect(errors![0]).toMatch(/ is set but empty: /);
    }
  });

  it('names the older variable when that is the one read, and every empty one at once', () => {
    const { errors } = loadConfig({ RS_ETCD_ENDPOINT: '', RS_SCHEDULE: '', RS_ENCRYPTION_RECIPIENTS: '' });
    expect(errors?.map((e) => e.split(' ')[0])).toEqual(['RS_ETCD_ENDPOINT', 'RS_ENCRYPTION_RECIPIENTS', 'RS_SCHEDULE']);
  });

  it('never shows a secret variable\'s value, even one of spaces only', () => {
    const { errors } = loadConfig({ RS_API_TOKEN: '                ' });
    expect(errors).toEqual(['RS_API_TOKEN is set but empty: give a token of 16 characters or more, or unset it for a read-only API']);
  });

  it('covers every variable reshifter reads, each decided once', () => {
    const decided = [...REFUSED.map(([name]) => name), ...ACCEPTED];
    expect(new Set(decided).size).toBe(decided.length);
    expect([...KNOWN_VARIABLES].sort()).toEqual([...decided].sort());
    for (const v of VARIABLES) expect('means' in v.empty, v.name).toBe(ACCEPTED.includes(v.name));
  });
});
