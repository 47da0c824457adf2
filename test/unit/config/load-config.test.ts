import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';

describe('loadConfig', () => {
  it('has working defaults', () => {
    const { config } = loadConfig({});
    expect(config).toMatchObject({
      etcd: { endpoints: ['http://127.0.0.1:2379'], apiVersion: 'auto' },
      cluster: 'default',
      store: { kind: 'local', dir: './backups' },
      compression: 'zstd',
      compressionLevel: 1,
      retention: {},
      httpPort: 8080,
      logLevel: 'info',
    });
    expect(config?.strategy).toBeUndefined();
  });

  it('reads a full S3 configuration, with Reshifter names', () => {
    const { config, errors } = loadConfig({
      RS_ETCD_ENDPOINT: '10.0.0.1:2379',
      RS_BACKUP_STRATEGY: 'filter:deployments,services',
      RS_S3_BUCKET: 'etcd-backups',
      RS_S3_ENDPOINT: 'http://minio:9000/',
      RS_S3_PREFIX: '/prod/eu/',
      ACCESS_KEY_ID: 'AK',
      SECRET_ACCESS_KEY: 'SK',
      RS_SCHEDULE: '0 */6 * * *',
      RS_RETENTION_KEEP_LAST: '3',
      RS_RETENTION_MAX_AGE: '30d',
      RS_S3_RETRY_WINDOW: '2m',
    });
    expect(errors).toBeUndefined();
    expect(config?.etcd.endpoints).toEqual(['http://10.0.0.1:2379']);
    expect(config?.strategy).toEqual({ kind: 'filter', resources: ['deployments', 'services'] });
    expect(config?.store).toEqual({
      kind: 's3', bucket: 'etcd-backups', endpoint: 'http://minio:9000', region: 'us-east-1', prefix: 'prod/eu',
      forcePathStyle: true, accessKeyId: 'AK', secretAccessKey: 'SK', requestTimeoutMs: 30_000, retryWindowMs: 120_000,
    });
    expect(config?.retention).toEqual({ keepLast: 3, maxAgeMs: 30 * 86_400_000 });
  });

  it.each([
    ['RS_ETCD_ENDPOINTS', 'ftp://x:1', /RS_ETCD_ENDPOINTS was invalid: "ftp:\/\/x:1" .*scheme/],
    ['RS_ETCD_ENDPOINTS', ' , ', /RS_ETCD_ENDPOINTS was invalid: .* names no endpoint/],
    // Before: 'has "http://10.0.0.5:2379 http://10.0.0.6:2379", which is not a URL', not saying that commas separate them.
    ['RS_ETCD_ENDPOINTS', 'http://10.0.0.5:2379 http://10.0.0.6:2379', /RS_ETCD_ENDPOINTS was invalid: .* which holds a space: separate endpoints with commas \(http:\/\/10\.0\.0\.5:2379,http:\/\/10\.0\.0\.6:2379\)$/],
    ['RS_ETCD_CA_CERT', '/does/not/exist.pem', /RS_ETCD_CA_CERT was invalid: "\/does\/not\/exist.pem" does not exist/],
    ['RS_ETCD_CA_CERT', '/etc', /RS_ETCD_CA_CERT was invalid: "\/etc" is not a file/],
    ['RS_ETCD_API_VERSION', 'v4', /RS_ETCD_API_VERSION was invalid: "v4" should be one of \[auto, v2, v3\]/],
    ['RS_ETCD_TIMEOUT', 'soon', /RS_ETCD_TIMEOUT was invalid: "soon" is not a duration/],
    ['RS_S3_REQUEST_TIMEOUT', '500ms', /RS_S3_REQUEST_TIMEOUT was invalid: "500ms" is not a duration/],
    ['RS_S3_RETRY_WINDOW', '0s', /RS_S3_RETRY_WINDOW was invalid: "0s" is not a duration/],
    ['RS_BACKUP_STRATEGY', 'everything', /RS_BACKUP_STRATEGY was invalid: "everything" should be one of snapshot/],
    ['RS_BACKUP_STRATEGY', 'snapshots', /RS_BACKUP_STRATEGY was invalid: "snapshots" should be one of .*, checkpoint \(did you mean snapshot\?\)$/],
    ['RS_BACKUP_STRATEGY', 'filtr:secrets', /\(did you mean filter:secrets\?\)$/],
    ['RS_BACKUP_STRATEGY', 'filter:', /RS_BACKUP_STRATEGY was invalid: "filter:" names no resource: give at least one, e.g. filter:deployments,services$/],
    ['RS_CLUSTER_NAME', '../etc', /RS_CLUSTER_NAME was invalid: "..\/etc"/],
    ['RS_S3_ENDPOINT', 'not a url', /RS_S3_ENDPOINT was invalid: "not a url"/],
    ['RS_S3_PREFIX', 'a/../b', /RS_S3_PREFIX was invalid: "a\/..\/b" must not contain/],
    ['RS_S3_FORCE_PATH_STYLE', 'yes', /RS_S3_FORCE_PATH_STYLE was invalid: "yes" should be either/],
    ['RS_S3_SSE', 'rot13', /RS_S3_SSE was invalid: "rot13"/],
    ['RS_COMPRESSION', 'brotli', /RS_COMPRESSION was invalid: "brotli" should be one of \[zstd, gzip, none\]/],
    ['RS_COMPRESSION_LEVEL', '20', /RS_COMPRESSION_LEVEL was invalid: "20" should be a zstd level from 1 \(fastest\) to 19 \(smallest\)/],
    ['RS_COMPRESSION_LEVEL', '-3', /RS_COMPRESSION_LEVEL was invalid: "-3" should be a zstd level from 1/],
    ['RS_ENCRYPTION_RECIPIENTS', 'ssh-rsa AAAA', /RS_ENCRYPTION_RECIPIENTS was invalid: .* not an age X25519 public key \(age1...\): reshifter encrypts to age keys only, not SSH keys/],
    ['RS_ENCRYPTION_IDENTITY_FILE', '/nope', /RS_ENCRYPTION_IDENTITY_FILE was invalid: "\/nope" does not exist/],
    ['RS_SCHEDULE', 'every hour', /RS_SCHEDULE was invalid: "every hour" is not a cron expression/],
    ['RS_SCHEDULE', '61 * * * *', /RS_SCHEDULE was invalid: "61 \* \* \* \*" is not a cron expression/],
    ['RS_RETENTION_KEEP_LAST', '-1', /RS_RETENTION_KEEP_LAST was invalid: "-1" should be a positive integer/],
    ['RS_RETENTION_KEEP_DAILY', 'seven', /RS_RETENTION_KEEP_DAILY was invalid: "seven" should be a valid integer/],
    ['RS_RETENTION_MAX_AGE', '30 days', /RS_RETENTION_MAX_AGE was invalid: "30 days" is not a duration/],
    ['RS_KUBE_PREFIXES', 'registry', /RS_KUBE_PREFIXES was invalid: .*start with "\/"/],
    ['RS_INCLUDE_NAMESPACES', 'Kube_System', /RS_INCLUDE_NAMESPACES was invalid: .*not a namespace name/],
    ['RS_EXCLUDE_RESOURCES', 'pods!', /RS_EXCLUDE_RESOURCES was invalid: .*not a resource name/],
    ['RS_HTTP_PORT', '70000', /RS_HTTP_PORT was invalid: "70000"/],
    ['RS_PUSHGATEWAY_URL', 'pushgateway:9091', /RS_PUSHGATEWAY_URL was invalid/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL was invalid: "loud" should be one of/],
  ])('%s=%j is refused, naming the variable and value', (name, value, message) => {
    const { errors } = loadConfig({ [name]: value });
    expect(errors).toHaveLength(1);
    expect(errors?.[0]).toMatch(message);
  });

  it('reports every bad variable at once', () => {
    const { errors } = loadConfig({ RS_SCHEDULE: 'nope', RS_COMPRESSION: 'zip', RS_RETENTION_KEEP_LAST: 'x', RS_HTTP_PORT: '-5' });
    expect(errors?.map((e) => e.split(' ')[0])).toEqual(['RS_COMPRESSION', 'RS_SCHEDULE', 'RS_RETENTION_KEEP_LAST', 'RS_HTTP_PORT']);
  });

  it('reads the compression level by the compression: zstd 1-19 (default 1), gzip 1-9 (default 3)', () => {
    expect(loadConfig({ RS_COMPRESSION: 'gzip' }).config).toMatchObject({ compression: 'gzip', compressionLevel: 3 });
    expect(loadConfig({ RS_COMPRESSION: 'none', RS_COMPRESSION_LEVEL: '12' }).errors).toBeUndefined();
    expect(loadConfig({ RS_COMPRESSION: 'zstd' }).config).toMatchObject({ compression: 'zstd', compressionLevel: 1 });
    expect(loadConfig({ RS_COMPRESSION: 'zstd', RS_COMPRESSION_LEVEL: '20' }).errors).toEqual([
      'RS_COMPRESSION_LEVEL was invalid: "20" should be a zstd level from 1 (fastest) to 19 (smallest)',
    ]);
    expect(loadConfig({ RS_COMPRESSION: 'zstd', RS_COMPRESSION_LEVEL: '19' }).config).toMatchObject({ compression: 'zstd', compressionLevel: 19 });
    expect(loadConfig({ RS_COMPRESSION: 'gzip', RS_COMPRESSION_LEVEL: '9' }).config).toMatchObject({ compressionLevel: 9 });
    expect(loadConfig({ RS_COMPRESSION: 'gzip', RS_COMPRESSION_LEVEL: '11' }).errors).toEqual([
      'RS_COMPRESSION_LEVEL was invalid: "11" should be a gzip level from 1 (fastest) to 9 (smallest)',
    ]);
    expect(loadConfig({ RS_COMPRESSION_LEVEL: 'fast' }).errors?.[0]).toMatch(/^RS_COMPRESSION_LEVEL was invalid: "fast" should be a valid integer/);
  });

  it('checks pairs that only work together', () => {
    expect(loadConfig({ RS_ETCD_USERNAME: 'root' }).errors).toEqual(['RS_ETCD_USERNAME and RS_ETCD_PASSWORD must be set together']);
    expect(loadConfig({ ACCESS_KEY_ID: 'x' }).errors?.[0]).toMatch(/ACCESS_KEY_ID and SECRET_ACCESS_KEY/);
  });

  it('never shows the value of a secret variable', () => {
    const { errors } = loadConfig({ RS_API_TOKEN: 'short-secret' });
    expect(errors?.[0]).toMatch(/RS_API_TOKEN was invalid: \(hidden\)/);
    expect(errors?.join()).not.toContain('short-secret');
  });
});

describe("loadConfig: etcdctl's variables", () => {
  const ca = '/etc/hostname'; // any readable file

  it('reads each etcd setting from etcdctl when its RS_ variable is unset, and says which were read', () => {
    const loaded = loadConfig({ ETCDCTL_ENDPOINTS: 'https://10.0.0.5:2379,https://10.0.0.6:2379', ETCDCTL_CACERT: ca, ETCDCTL_CERT: ca, ETCDCTL_KEY: ca, ETCDCTL_USER: 'root:pa:ss' });
    expect(loaded.errors).toBeUndefined();
    expect(loaded.config?.etcd).toMatchObject({
      endpoints: ['https://10.0.0.5:2379', 'https://10.0.0.6:2379'], caCertFile: ca, clientCertFile: ca, clientKeyFile: ca, username: 'root', password: 'pa:ss',
    });
    expect(loaded.etcdctl).toEqual(['ETCDCTL_ENDPOINTS', 'ETCDCTL_CACERT', 'ETCDCTL_CERT', 'ETCDCTL_KEY', 'ETCDCTL_USER']);
  });

  it('takes a bare host:port (the default 127.0.0.1:2379 too) as https when TLS files are given, as etcdctl does', () => {
    expect(loadConfig({ ETCDCTL_ENDPOINTS: '10.0.0.5:2379,10.0.0.6:2379', ETCDCTL_CACERT: ca }).config?.etcd.endpoints).toEqual(['https://10.0.0.5:2379', 'https://10.0.0.6:2379']);
    expect(loadConfig({ RS_ETCD_ENDPOINTS: '10.0.0.5:2379', RS_ETCD_CLIENT_CERT: ca, RS_ETCD_CLIENT_KEY: ca }).config?.etcd.endpoints).toEqual(['https://10.0.0.5:2379']);
    expect(loadConfig({ ETCDCTL_CACERT: ca }).config?.etcd.endpoints).toEqual(['https://127.0.0.1:2379']);
    // An explicit scheme stays as written; without TLS files a bare endpoint is plain http.
    expect(loadConfig({ RS_ETCD_ENDPOINTS: 'http://10.0.0.5:2379', RS_ETCD_CA_CERT: ca }).config?.etcd.endpoints).toEqual(['http://10.0.0.5:2379']);
    expect(loadConfig({ ETCDCTL_ENDPOINTS: '10.0.0.5:2379' }).config?.etcd.endpoints).toEqual(['http://10.0.0.5:2379']);
  });

  it('records which fields etcdctl gave, for messages to name them', () => {
    expect(loadConfig({ RS_ETCD_ENDPOINTS: 'https://10.0.0.5:2379', ETCDCTL_CACERT: ca }).config?.etcd.readFrom).toEqual({ caCertFile: 'ETCDCTL_CACERT' });
    expect(loadConfig({ RS_ETCD_ENDPOINTS: 'https://10.0.0.5:2379' }).config?.etcd.readFrom).toBeUndefined();
    // The older name too: a message that named RS_ETCD_ENDPOINTS sent the operator to a variable not set.
    expect(loadConfig({ RS_ETCD_ENDPOINT: 'https://10.0.0.5:2379', ETCDCTL_CACERT: ca }).config?.etcd.readFrom).toEqual({ caCertFile: 'ETCDCTL_CACERT', endpoints: 'RS_ETCD_ENDPOINT' });
  });

  it('lets an RS_ variable (or its older name) win, one variable at a time', () => {
    const loaded = loadConfig({ RS_ETCD_ENDPOINT: 'https://10.0.0.9:2379', ETCDCTL_ENDPOINTS: 'https://10.0.0.5:2379', ETCDCTL_CACERT: ca });
    expect(loaded.config?.etcd.endpoints).toEqual(['https://10.0.0.9:2379']);
    expect(loaded.config?.etcd.caCertFile).toBe(ca);
    expect(loaded.etcdctl).toEqual(['ETCDCTL_CACERT']);
    expect(loadConfig({ RS_ETCD_USERNAME: 'me', RS_ETCD_PASSWORD: 'mine', ETCDCTL_USER: 'root:other' }).config?.etcd).toMatchObject({ username: 'me', password: 'mine' });
  });

  it('refuses an RS_ variable set but empty even where etcdctl has one: it is not unset', () => {
    expect(loadConfig({ RS_ETCD_CA_CERT: '', ETCDCTL_CACERT: ca }).errors).toEqual([expect.stringMatching(/^RS_ETCD_CA_CERT is set but empty: give /)]);
  });

  it('takes ETCDCTL_PASSWORD before the password in ETCDCTL_USER; a blank etcdctl variable counts as unset', () => {
    expect(loadConfig({ ETCDCTL_USER: 'root:old', ETCDCTL_PASSWORD: 'new' }).config?.etcd).toMatchObject({ username: 'root', password: 'new' });
    const blank = loadConfig({ ETCDCTL_ENDPOINTS: ' ', ETCDCTL_CACERT: '' });
    expect(blank.config?.etcd.endpoints).toEqual(['http://127.0.0.1:2379']);
    expect(blank.etcdctl).toEqual([]);
  });

  it('names the etcdctl variable it read in errors, and never shows what ETCDCTL_USER or ETCDCTL_PASSWORD hold', () => {
    expect(loadConfig({ ETCDCTL_CACERT: '/does/not/exist.pem' }).errors).toEqual([expect.stringMatching(/^ETCDCTL_CACERT was invalid: "\/does\/not\/exist.pem" does not exist/)]);
    expect(loadConfig({ ETCDCTL_ENDPOINTS: 'ftp://x:1' }).errors).toEqual([expect.stringMatching(/^ETCDCTL_ENDPOINTS was invalid: "ftp:\/\/x:1"/)]);
    // etcdctl would ask for the password on a terminal; reshifter runs unattended.
    const noPassword = loadConfig({ ETCDCTL_USER: 'root' }).errors;
    expect(noPassword).toEqual(['RS_ETCD_USERNAME (here ETCDCTL_USER) and RS_ETCD_PASSWORD must be set together']);
    const withCert = loadConfig({ ETCDCTL_CERT: ca }).errors;
    expect(withCert).toEqual([expect.stringMatching(/^RS_ETCD_CLIENT_CERT \(here ETCDCTL_CERT\) and RS_ETCD_CLIENT_KEY must be set together/)]);
    const secret = loadConfig({ ETCDCTL_USER: 'root:hunter2-secret', ETCDCTL_ENDPOINTS: 'ftp://x:1' });
    expect(JSON.stringify(secret)).not.toMatch(/hunter2/);
  });
});

describe("loadConfig: etcdctl's variables reshifter does not read", () => {
  const warned = (env: Record<string, string>) => loadConfig(env).warnings!.map((w) => [w.variable, w.msg, w.detail]);

  // Before: ignored without a word; ETCDCTL_DISCOVERY_SRV alone left the default http://127.0.0.1:2379 in its place.
  it('names each connection variable of etcdctl 3.4/3.5 it does not read, and what to set instead', () => {
    const msg = "etcdctl's variable is not read by reshifter";
    expect(warned({ ETCDCTL_DIAL_TIMEOUT: '2s', ETCDCTL_COMMAND_TIMEOUT: '5s' })).toEqual([
      ['ETCDCTL_DIAL_TIMEOUT', msg, expect.stringMatching(/^ETCDCTL_DIAL_TIMEOUT is not read: RS_ETCD_TIMEOUT \(default 30s\) bounds each etcd call/)],
      ['ETCDCTL_COMMAND_TIMEOUT', msg, expect.stringMatching(/^ETCDCTL_COMMAND_TIMEOUT is not read: RS_ETCD_TIMEOUT/)],
    ]);
    expect(warned({ ETCDCTL_DISCOVERY_SRV: 'example.com' })).toEqual([['ETCDCTL_DISCOVERY_SRV', msg, expect.stringContaining('give them with RS_ETCD_ENDPOINTS (or ETCDCTL_ENDPOINTS)')]]);
    expect(warned({ ETCDCTL_KEEPALIVE_TIME: '2s' })).toEqual([['ETCDCTL_KEEPALIVE_TIME', msg, expect.stringContaining('no keepalive setting')]]);
    expect(warned({ ETCDCTL_INSECURE_TRANSPORT: 'false' })).toEqual([['ETCDCTL_INSECURE_TRANSPORT', msg, expect.stringContaining('give https:// endpoints')]]);
  });

  // Before: ETCDCTL_API=2 was left alone without a word, and auto read the v3 keyspace: a shell set up for a v2 etcd
  // (flannel's /coreos.com) backed up, listed and counted other keys than etcdctl showed it.
  it('names ETCDCTL_API=2 as not read, with RS_ETCD_API_VERSION=v2 to set; nothing for 3, or beside v2', () => {
    expect(warned({ ETCDCTL_API: '2' })).toEqual([['ETCDCTL_API', "etcdctl's variable is not read by reshifter", expect.stringMatching(/^ETCDCTL_API is not read: .*RS_ETCD_API_VERSION=v2/)]]);
    expect(warned({ ETCDCTL_API: '3' })).toEqual([]);
    expect(warned({ ETCDCTL_API: '2', RS_ETCD_API_VERSION: 'v2' })).toEqual([]);
  });

  it('never skips verifying etcd\'s certificate: ETCDCTL_INSECURE_SKIP_TLS_VERIFY is named as not honoured', () => {
    const loaded = loadConfig({ ETCDCTL_INSECURE_SKIP_TLS_VERIFY: 'true', ETCDCTL_ENDPOINTS: 'https://10.0.0.5:2379' });
    expect(loaded.warnings!.map((w) => w.detail)).toEqual([
      "ETCDCTL_INSECURE_SKIP_TLS_VERIFY is set, but reshifter always verifies etcd's certificate: give the CA that signed it with RS_ETCD_CA_CERT (or ETCDCTL_CACERT)",
    ]);
    expect(JSON.stringify(loaded.config!.etcd)).not.toMatch(/insecure|skip/i);
  });

  // Before: taken without a word, and the endpoint dialled twice.
  it('names an etcd endpoint given twice once, and keeps it once (a bare host:port and its URL are one)', () => {
    const loaded = loadConfig({ ETCDCTL_ENDPOINTS: 'http://10.0.0.5:2379, 10.0.0.6:2379,10.0.0.5:2379, 10.0.0.6:2379' });
    expect(loaded.config!.etcd.endpoints).toEqual(['http://10.0.0.5:2379', 'http://10.0.0.6:2379']);
    expect(warned({ RS_ETCD_ENDPOINTS: 'http://10.0.0.5:2379,http://10.0.0.5:2379' })).toEqual([
      ['RS_ETCD_ENDPOINTS', 'etcd endpoint named more than once', 'RS_ETCD_ENDPOINTS names http://10.0.0.5:2379 more than once; it is used once (http://10.0.0.5:2379)'],
    ]);
    expect(loaded.warnings!.map((w) => w.detail)).toEqual([
      'ETCDCTL_ENDPOINTS names http://10.0.0.5:2379, http://10.0.0.6:2379 more than once; each is used once (http://10.0.0.5:2379, http://10.0.0.6:2379)',
    ]);
    expect(warned({ RS_ETCD_ENDPOINTS: 'http://10.0.0.5:2379,http://10.0.0.6:2379' })).toEqual([]);
  });

  it("says nothing of values that ask what reshifter does anyway, output settings, or commands that reach no etcd", () => {
    expect(warned({ ETCDCTL_INSECURE_SKIP_TLS_VERIFY: 'false', ETCDCTL_INSECURE_TRANSPORT: 'true', ETCDCTL_API: '3', ETCDCTL_WRITE_OUT: 'json', ETCDCTL_DIAL_TIMEOUT: ' ' })).toEqual([]);
    expect(loadConfig({ ETCDCTL_DIAL_TIMEOUT: '2s' }, { groups: new Set(['general', 'store']) }).warnings).toEqual([]);
  });
});
