import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KNOWN_VARIABLES, SECRET_VARIABLES, loadConfig, type Env } from '../../../src/config/load-config.js';

const dir = mkdtempSync(join(tmpdir(), 'rs-badvars-'));
const aFile = join(dir, 'file.txt');
writeFileSync(aFile, 'not a key\n');
const GOOD_RECIPIENT = 'age1p9u33mqmapx8qjqww22gagxhh4xflhq6hpzjf86hwpd99qqgzczstrx7yg';
// The same key with one character changed: the bech32 checksum no longer matches.
const TYPO_RECIPIENT = 'age1p9u33mqmapx8qjqww22gagxhh4xflhq6hpzjf86hwpd99qqgzczstrx7yq';

/**
 * Every variable with a wrong type, range or format: one error naming the variable, and the value unless it is a
 * secret. [variable, value, expected message, other variables the case needs] (Set but empty: empty-variables.test.ts.)
 */
const CASES: Array<[string, string, RegExp, Env?]> = [
  ['RS_ETCD_ENDPOINTS', 'ftp://x:1', /"ftp:\/\/x:1" has "ftp:\/\/x:1", which has the scheme ftp: it must be http or https$/],
  ['RS_ETCD_ENDPOINTS', 'http://', /not a URL|names no host/],
  ['RS_ETCD_ENDPOINTS', 'https://10.0.0.1:99999', /not a URL/],
  ['RS_ETCD_ENDPOINTS', 'https://127.0.0.1:2379/v3', /an etcd endpoint is a scheme, host and port only .* without a path/],
  ['RS_ETCD_ENDPOINTS', ' , ', /names no endpoint/],
  // Without a port gRPC dials 443, even for http:// (etcdctl refuses it: "missing port in address").
  ['RS_ETCD_ENDPOINTS', '127.0.0.1', /has "127.0.0.1", which has no port: etcd's client port is usually 2379 \(http:\/\/127.0.0.1:2379\)/],
  ['RS_ETCD_ENDPOINTS', 'http://10.0.0.5:2379,http://10.0.0.6', /has "http:\/\/10.0.0.6", which has no port: .*\(http:\/\/10.0.0.6:2379\)/],
  ['RS_ETCD_ENDPOINT', 'etcd 0:2379', /not a URL/],
  ['RS_ETCD_CA_CERT', join(dir, 'missing.pem'), /does not exist/],
  ['RS_ETCD_CA_CERT', dir, /is not a file/],
  ['RS_ETCD_CA_CERT', `${aFile}/x.pem`, /ENOTDIR|not a directory/],
  ['RS_ETCD_CLIENT_CERT', join(dir, 'missing.crt'), /does not exist/, { RS_ETCD_CLIENT_KEY: aFile }],
  ['RS_ETCD_CLIENT_KEY', join(dir, 'missing.key'), /does not exist/, { RS_ETCD_CLIENT_CERT: aFile }],
  ['RS_ETCD_USERNAME', 'root', /RS_ETCD_USERNAME and RS_ETCD_PASSWORD must be set together/],
  ['RS_ETCD_PASSWORD', 'hunter2-secret', /RS_ETCD_USERNAME and RS_ETCD_PASSWORD must be set together/],
  ['RS_ETCD_API_VERSION', 'v4', /should be one of \[auto, v2, v3\]/],
  ['RS_ETCD_TIMEOUT', '0s', /is not a duration/],
  ['RS_ETCD_TIMEOUT', '30', /is not a duration/],
  ['RS_ETCD_TIMEOUT', '-5s', /is not a duration/],
  // Longer than a Node timer can wait: Node printed a TimeoutOverflowWarning naming no variable, and waited 24.8 days.
  ['RS_ETCD_TIMEOUT', '30d', /RS_ETCD_TIMEOUT was invalid: "30d" is longer than the 24 days \(24d\) a wait can be/],
  ['RS_S3_REQUEST_TIMEOUT', '4w', /is longer than the 24 days/],
  ['RS_S3_RETRY_WINDOW', '25d', /is longer than the 24 days/],
  ['RS_DELTA_INTERVAL', '30d', /is longer than the 24 days/],
  ['RS_BACKUP_STRATEGY', 'everything', /should be one of/],
  // kubectl's names select nothing in etcd: every backup would silently leave the resource out.
  ['RS_BACKUP_STRATEGY', 'filter:secrets,configmap', /has "configmap", kubectl's name for configmaps: .*\(use "configmaps"\)/],
  ['RS_BACKUP_STRATEGY', 'filter:deploy', /has "deploy", kubectl's name for deployments/],
  ['RS_CLUSTER_NAME', 'a/b', /should be 1-63 letters/],
  ['RS_BACKUP_DIR', aFile, /is not a directory/],
  // Before: 'is not a cron expression (pattern includes illegal characters)', not naming the zone.
  ['RS_SCHEDULE', 'CRON_TZ=Europe/Berlin 0 2 * * *', /names its time zone with CRON_TZ=, which reshifter does not read: set TZ=Europe\/Berlin and RS_SCHEDULE to the expression alone \("0 2 \* \* \*"\)$/],
  ['RS_BACKUP_DIR', '~/backups', /"~\/backups" starts with "~", which only a shell expands/],
  ['RS_ENCRYPTION_IDENTITY_FILE', '$HOME/age.txt', /holds "\$HOME", which only a shell expands/],
  ['RS_TMP_DIR', aFile, /is not a directory/],
  ['RS_TMP_DIR', join(dir, 'missing'), /does not exist/],
  ['RS_S3_BUCKET', 'My_Bucket', /not an S3 bucket name/],
  // Before: 'is not an S3 bucket name' for the bucket and folder of `aws s3 ls` (found by an operator pass).
  ['RS_S3_BUCKET', 's3://etcd-backups/team/prod/', /^RS_S3_BUCKET was invalid: "s3:\/\/etcd-backups\/team\/prod\/" is an S3 URL: give the bucket alone \("etcd-backups"\), and the folder inside it as RS_S3_PREFIX \("team\/prod"\)$/],
  ['RS_S3_BUCKET', 's3://etcd-backups', /"s3:\/\/etcd-backups" is an S3 URL: give the bucket alone \("etcd-backups"\)$/],
  ['RS_S3_BUCKET', 'etcd-backups/team', /"etcd-backups\/team" holds a folder: give the bucket alone \("etcd-backups"\), and the folder inside it as RS_S3_PREFIX \("team"\)$/],
  ['RS_S3_ENDPOINT', 'minio:9000', /^RS_S3_ENDPOINT was invalid: "minio:9000" has no scheme: give http:\/\/minio:9000 or https:\/\/minio:9000$/],
  // A console's URL of the bucket: every object would be looked for under a folder of that name, every id "not found".
  ['RS_S3_ENDPOINT', 'http://minio.minio:9000/etcd-backups', /has the bucket in its path: give the server only \(http:\/\/minio.minio:9000\), the bucket is RS_S3_BUCKET$/, { RS_S3_BUCKET: 'etcd-backups' }],
  ['RS_S3_ENDPOINT', '127.0.0.1:29000', /"127.0.0.1:29000" has no scheme: give http:\/\/127.0.0.1:29000 or https:\/\/127.0.0.1:29000$/],
  ['RS_S3_ENDPOINT', 'ftp://minio:9000', /"ftp:\/\/minio:9000" has the scheme ftp: it must be http or https$/],
  ['RS_S3_CA_CERT', join(dir, 'missing.pem'), /does not exist/, { RS_S3_BUCKET: 'etcd-backups' }],
  ['RS_S3_REGION', 'EU Central', /is not a region name/],
  ['RS_S3_PREFIX', 'a/../b', /must not contain/],
  // Before: taken, and every upload failed (S3's KeyTooLongError; s3rver's 500s, retried for RS_S3_RETRY_WINDOW).
  ['RS_S3_PREFIX', `team/${'x'.repeat(900)}`, /" is 905 bytes long: S3 keys are at most 1024 bytes, and every backup's key adds the cluster's folder and a file name \(up to 129 bytes\): give a folder of at most 895 bytes$/, { RS_S3_BUCKET: 'etcd-backups' }],
  // Before: taken as the folder "s3:/etcd-backups/prod" inside the bucket, where no other config would look.
  ['RS_S3_PREFIX', 's3://etcd-backups/prod/', /"s3:\/\/etcd-backups\/prod\/" is an S3 URL: give the folder inside the bucket alone \("prod"\), and the bucket as RS_S3_BUCKET\. Earlier versions of reshifter took it as the folder "s3:\/etcd-backups\/prod" and stored backups there: RS_S3_PREFIX="s3:\/etcd-backups\/prod" reads them$/, { RS_S3_BUCKET: 'etcd-backups' }],
  ['RS_S3_PREFIX', 'https://minio:9000/etcd-backups/prod', /is a URL: give the folder inside the bucket alone \(like clusters\/prod\); a server's address goes in RS_S3_ENDPOINT\. Earlier versions of reshifter took it as the folder "https:\/minio:9000\/etcd-backups\/prod" and stored backups there/, { RS_S3_BUCKET: 'etcd-backups' }],
  ['RS_S3_REQUEST_TIMEOUT', '30000', /is not a duration/],
  ['RS_S3_RETRY_WINDOW', 'a minute', /is not a duration/],
  ['RS_S3_FORCE_PATH_STYLE', 'yes', /"yes" should be either "true", "false"/],
  ['RS_S3_SSE', 'aes256', /should be one of \[AES256, aws:kms\]/],
  ['RS_S3_SSE_KMS_KEY_ID', 'arn:aws:kms:eu-west-1:1:key/x', /RS_S3_SSE_KMS_KEY_ID is set, but RS_S3_SSE is not "aws:kms"/, { RS_S3_SSE: 'AES256' }],
  ['ACCESS_KEY_ID', 'AKIAEXAMPLE', /ACCESS_KEY_ID and SECRET_ACCESS_KEY must be set together/],
  ['SECRET_ACCESS_KEY', 'wJalrXUtnFEMI-secret', /ACCESS_KEY_ID and SECRET_ACCESS_KEY must be set together/],
  ['RS_COMPRESSION', 'brotli', /should be one of \[zstd, gzip, none\]/],
  ['RS_COMPRESSION_LEVEL', '0', /zstd level from 1/],
  ['RS_COMPRESSION_LEVEL', 'fast', /should be a valid integer|positive integer/],
  ['RS_ENCRYPTION_RECIPIENTS', `${GOOD_RECIPIENT},ssh-rsa AAAA`, /"ssh-rsa AAAA", which is not an age X25519 public key/],
  ['RS_ENCRYPTION_RECIPIENTS', TYPO_RECIPIENT, /which is not an age X25519 public key/],
  ['RS_ENCRYPTION_IDENTITY_FILE', join(dir, 'missing.txt'), /does not exist/],
  ['RS_ENCRYPTION_IDENTITY_FILE', aFile, /line 1 is not an age secret key/],
  ['RS_ENCRYPTION_IDENTITY', 'AGE-SECRET-KEY-1NOTAKEY', /\(hidden\) is not an age secret key/],
  // age's -R FILE and -i FILE habits: the path named as such, with what to give instead.
  ['RS_ENCRYPTION_RECIPIENTS', '/keys/recipients.txt', /"\/keys\/recipients.txt", a file's path, where age X25519 public keys \(age1...\) go: give the keys themselves/],
  ['RS_ENCRYPTION_IDENTITY', '/keys/age.txt', /\(hidden\) is a file's path, not an age secret key \(AGE-SECRET-KEY-1...\): set RS_ENCRYPTION_IDENTITY_FILE to it instead/],
  ['RS_ENCRYPTION_PASSPHRASE', 'pass-phrase-secret', /cannot both be set/, { RS_ENCRYPTION_RECIPIENTS: GOOD_RECIPIENT }],
  ['RS_SCHEDULE', 'every hour', /is not a cron expression/],
  ['RS_SCHEDULE', '* * *', /is not a cron expression/],
  ['RS_RETENTION_KEEP_LAST', '1.5', /should be a valid integer|positive integer/],
  ['RS_RETENTION_KEEP_HOURLY', '-2', /positive integer/],
  ['RS_RETENTION_KEEP_LAST', '0', /keeps nothing: give 1 or more, or leave it unset to switch this rule off/],
  ['RS_RETENTION_KEEP_DAILY', '0', /keeps nothing/],
  ['RS_RETENTION_KEEP_DAILY', 'seven', /should be a valid integer/],
  ['RS_RETENTION_KEEP_WEEKLY', '4w', /should be a valid integer/],
  ['RS_RETENTION_KEEP_MONTHLY', 'x', /should be a valid integer/],
  ['RS_RETENTION_MAX_AGE', '30 days', /is not a duration/],
  ['RS_DELTA_INTERVAL', 'every 2s', /is not a duration/],
  ['RS_DELTA_MAX_BYTES', '10 GB', /is not a size from 64KiB to 1GiB/],
  ['RS_KUBE_PREFIXES', 'registry', /start with "\/"/],
  ['RS_INCLUDE_NAMESPACES', 'Kube_System', /not a namespace name/],
  ['RS_EXCLUDE_NAMESPACES', 'a..b', /not a namespace name/],
  ['RS_INCLUDE_RESOURCES', 'pods!', /not a resource name/],
  ['RS_EXCLUDE_RESOURCES', 'Secrets', /not a resource name/],
  ['RS_INCLUDE_RESOURCES', 'secrets,configmap', /has "configmap", kubectl's name for configmaps: .*\(use "configmaps"\)/],
  ['RS_INCLUDE_RESOURCES', 'crd', /has "crd", kubectl's name for customresourcedefinitions/],
  ['RS_EXCLUDE_RESOURCES', 'events,ev', /has "ev", kubectl's name for events/],
  ['RS_CHECKPOINT_TARGETS', '*/web/app', /the namespace cannot be \*/],
  ['RS_KUBELET_URL', 'http://10.0.0.7:10250', /has the scheme http: it must be https/],
  ['RS_KUBELET_CA_CERT', join(dir, 'missing.crt'), /does not exist/],
  ['RS_KUBELET_CLIENT_CERT', join(dir, 'missing.crt'), /does not exist/, { RS_KUBELET_CLIENT_KEY: aFile }],
  ['RS_KUBELET_CLIENT_KEY', join(dir, 'missing.key'), /does not exist/, { RS_KUBELET_CLIENT_CERT: aFile }],
  ['RS_KUBELET_TOKEN_FILE', dir, /is not a file/],
  ['RS_KUBELET_SERVER_NAME', 'node 1', /is not a host name/],
  ['RS_CHECKPOINT_TIMEOUT', '120', /is not a duration/],
  ['RS_CHECKPOINT_DIR', 'var/lib/kubelet/checkpoints', /is not an absolute path/],
  ['RS_CHECKPOINT_KEEP_LOCAL', 'no', /"no" should be either "true", "false"/],
  ['RS_HTTP_PORT', '70000', /port from 0/],
  ['RS_HTTP_PORT', 'http', /should be a valid integer/],
  ['RS_HTTP_ADDRESS', 'all', /is not an address to listen on/],
  ['RS_HTTP_ADDRESS', '10.0.0.256', /is not an address to listen on/],
  ['RS_HTTP_ALLOWED_HOSTS', 'backup-host,http://backup-host:8080', /has "http:\/\/backup-host:8080", which is not a host name/],
  ['RS_API_READ_OPEN', 'yes please', /should be either "true", "false"/],
  ['RS_PUSHGATEWAY_URL', 'pushgateway:9091', /has no scheme: give http:\/\/pushgateway:9091 or https:\/\/pushgateway:9091/],
  ['RS_API_TOKEN', 'short-token', /\(hidden\) should be at least 16 characters/],
  ['LOG_LEVEL', 'loud', /should be one of/],
  ['RS_SCHEDUEL', '0 * * * *', /RS_SCHEDUEL is not a reshifter variable \(did you mean RS_SCHEDULE\?\)/],
  ['RS_RETENTION_KEEP_LST', '7', /did you mean RS_RETENTION_KEEP_LAST\?/],
  // The age tool's words: the variable that ends the same.
  ['RS_AGE_RECIPIENTS', 'age1qqqq', /RS_AGE_RECIPIENTS is not a reshifter variable \(did you mean RS_ENCRYPTION_RECIPIENTS\?\)/],
  ['RS_AGE_IDENTITY_FILE', '/keys/age.txt', /did you mean RS_ENCRYPTION_IDENTITY_FILE\?/],
  // Other tools' words for an endpoint, which no spelling brings near: the endpoint variable, not RS_HTTP_ADDRESS.
  ['RS_ETCD_URL', 'http://10.0.0.5:2379', /RS_ETCD_URL is not a reshifter variable \(did you mean RS_ETCD_ENDPOINTS\?\)/],
  ['RS_ETCD_ADDRESS', '10.0.0.5:2379', /RS_ETCD_ADDRESS is not a reshifter variable \(did you mean RS_ETCD_ENDPOINTS\?\)/],
  ['RS_S3_URL', 'https://minio:9000', /RS_S3_URL is not a reshifter variable \(did you mean RS_S3_ENDPOINT\?\)/],
];

describe('every bad variable is refused, named, with its value unless secret', () => {
  it.each(CASES)('%s=%j', (name, value, message, extra = {}) => {
    const { errors } = loadConfig({ ...extra, [name]: value });
    expect(errors, `${name}=${value} was accepted`).toBeDefined();
    const mine = errors!.filter((e) => e.includes(name));
    expect(mine.length, errors!.join('\n')).toBeGreaterThanOrEqual(1);
    expect(mine.join('\n')).toMatch(message);
    if (SECRET_VARIABLES.has(name)) expect(errors!.join('\n')).not.toContain(value);
    else if (!/must be set together|cannot both be set|is set, but|is not a reshifter variable/.test(mine[0]!)) expect(mine[0]).toContain(JSON.stringify(value).slice(1, 20));
  });

  it('never quotes a secret put where none belongs: an age secret key as a recipient, a password in an etcd or S3 URL', () => {
    const secretKey = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX';
    for (const [name, value, message, secret] of [
      ['RS_ENCRYPTION_RECIPIENTS', `${GOOD_RECIPIENT},${secretKey}`, /holds an age secret key .*: give its public key \(age-keygen -y KEYFILE prints it\)/, secretKey.slice(16)],
      ['RS_ETCD_ENDPOINTS', 'http://127.0.0.1:2379,http://root:Pw-in-url-123@10.0.0.5:2379', /has a user name or password in a URL: give them as RS_ETCD_USERNAME and RS_ETCD_PASSWORD/, 'Pw-in-url-123'],
      // The S3 client ignores them: the run would fail later saying no credentials were given, with these in the env.
      ['RS_S3_ENDPOINT', 'http://AKIAEXAMPLE:S3-secret-in-url@minio:9000', /has a user name or password in the URL, which S3 clients do not read: give them as ACCESS_KEY_ID and SECRET_ACCESS_KEY/, 'S3-secret-in-url'],
      // Its user is the access key id: a credential too (before: quoted).
      ['RS_S3_ENDPOINT', 'http://AKIAEXAMPLE:S3-secret-in-url@minio:9000', /"http:\/\/\(hidden\)@minio:9000" has a user name or password/, 'AKIAEXAMPLE'],
      // Without a scheme: the value is quoted, and the suggestion repeats it with one (before: both in full).
      ['RS_PUSHGATEWAY_URL', 'pguser:Pg-secret-bare@pushgateway:9091', /"\(hidden\)@pushgateway:9091" has no scheme: give http:\/\/\(hidden\)@pushgateway:9091/, 'Pg-secret-bare'],
      ['RS_S3_ENDPOINT', 'AKIAEXAMPLE:S3-secret-bare@minio:9000', /has no scheme/, 'S3-secret-bare'],
      ['RS_ETCD_ENDPOINTS', 'http://10.0.0.4:2379,root:Pw-bare-123@10.0.0.5:2379', /RS_ETCD_ENDPOINTS was invalid/, 'Pw-bare-123'],
    ] as const) {
      const { errors } = loadConfig({ [name]: value });
      expect(errors?.join('\n')).toMatch(message);
      expect(errors!.join('\n')).not.toContain(secret);
    }
  });

  it('refuses more recipients than a manifest holds (4096), naming the variable and without quoting them all', () => {
    // Before: accepted, and every backup written was refused when read back (its manifest's encryptedTo, 1 to 4096 keys).
    const { errors } = loadConfig({ RS_ENCRYPTION_RECIPIENTS: Array<string>(4097).fill(GOOD_RECIPIENT).join('\n') });
    expect(errors).toHaveLength(1);
    expect(errors![0]).toMatch(/^RS_ENCRYPTION_RECIPIENTS was invalid: "age1.*" \(\d+ characters\) has 4097 public keys; a backup can be encrypted to at most 4096: encrypt to fewer$/);
    expect(errors![0]!.length).toBeLessThan(500);
    expect(loadConfig({ RS_ENCRYPTION_RECIPIENTS: Array<string>(4096).fill(GOOD_RECIPIENT).join('\n') }).errors).toBeUndefined();
  });

  it('covers every variable reshifter reads', () => {
    const covered = new Set(CASES.map(([name]) => name));
    expect(KNOWN_VARIABLES.filter((v) => !covered.has(v))).toEqual([]);
  });

  it('checks variables that do not apply to this run (S3 settings with a local store, a schedule for `backup`)', () => {
    const { errors } = loadConfig({ RS_BACKUP_DIR: dir, RS_S3_REGION: 'Bad Region', RS_SCHEDULE: 'hourly', RS_PUSHGATEWAY_URL: 'x' });
    expect(errors?.map((e) => e.split(' ')[0])).toEqual(['RS_S3_REGION', 'RS_SCHEDULE', 'RS_PUSHGATEWAY_URL']);
  });

  it("reads the DaemonSet's https://$(HOST_IP):10250 on an IPv6 node as that address and port", () => {
    for (const [given, read] of [
      ['https://fd00::7:10250', 'https://[fd00::7]:10250'],
      ['https://2001:db8::a:10250', 'https://[2001:db8::a]:10250'],
      ['https://[fd00::7]:10250', 'https://[fd00::7]:10250'],
      ['https://10.0.0.7:10250', 'https://10.0.0.7:10250'],
    ]) {
      const { config, errors } = loadConfig({ RS_KUBELET_URL: given! });
      expect(errors, given).toBeUndefined();
      expect(config!.checkpoint.kubelet.url).toBe(read);
    }
  });

  it('reads RS_DELTA_INTERVAL=0 with a unit (0s, 0m) as off, as 0', () => {
    for (const v of ['0', '0s', '0m']) {
      const { config, errors } = loadConfig({ RS_DELTA_INTERVAL: v });
      expect(errors, v).toBeUndefined();
      expect(config!.delta.intervalMs, v).toBe(0);
    }
  });

  it('accepts a folder that does not exist yet (the first backup creates it)', () => {
    expect(loadConfig({ RS_BACKUP_DIR: join(dir, 'new', 'folder') }).errors).toBeUndefined();
  });

  it('accepts `ingress` in filters: kubectl\'s singular, and also where etcd stores ingresses (/registry/ingress/)', () => {
    // Before: refused as kubectl's singular that "would select nothing", though it selects every ingress.
    expect(loadConfig({ RS_BACKUP_STRATEGY: 'filter:ingress' }).errors).toBeUndefined();
    expect(loadConfig({ RS_INCLUDE_RESOURCES: 'ingress' }).errors).toBeUndefined();
    expect(loadConfig({ RS_INCLUDE_RESOURCES: 'ing' }).errors?.join()).toMatch(/has "ing", kubectl's name for ingresses/);
  });
});
