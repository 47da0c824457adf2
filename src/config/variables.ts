import { parseDuration } from '../core/duration.js';
import { parseStrategy } from '../core/strategy.js';
import {
  ageIdentity, ageIdentityFile, ageRecipients, bucketFolder, coerce, cronExpression, endpoints, intRange, matching, namesOf, prefixes,
  readableFile, url, writableFolder,
} from './parsers.js';
import type { Compression } from './types.js';

/** The values read so far, by variable name (undefined: not set, or invalid). */
export type Earlier = (name: string) => unknown;

/**
 * One configuration variable, declared once: loadConfig reads it, the typo check and the log redaction know it, and
 * the README's configuration table is made from its `doc` (a test fails when they differ).
 */
export interface Variable {
  name: string;
  /** An older name read when `name` is not set (RS_ETCD_ENDPOINT); errors name the one that was read. */
  alias?: string;
  /** Its value never appears in a message or a log line. */
  secret?: boolean;
  /**
   * What counts as not set: `blank` (the default: empty or only spaces; the value is trimmed), `empty` (only the
   * empty string; the value is taken as it is, as secrets are), `absent` (only a missing variable: env-var's rule).
   */
  unset?: 'blank' | 'empty' | 'absent';
  /** Turns the value into what Config holds; throws an Error that completes `NAME was invalid: "value" ...`. */
  parse?: (value: string, earlier: Earlier) => unknown;
  /** What Config holds when the variable is not set (not parsed; may depend on variables read before). */
  default?: unknown;
  defaultOf?: (earlier: Earlier) => unknown;
  /** Where in Config the value goes (a dotted path); the S3 fields apply only when RS_S3_BUCKET is set. */
  field: string;
  /** A rule across variables, checked once this one is read: a message when it is broken. */
  check?: (isSet: (name: string) => boolean, earlier: Earlier) => string | undefined;
  /** Its README row: variable, default, example, meaning (markdown); or the variable whose row it shares. */
  doc: { label?: string; default: string; example: string; meaning: string } | { row: string };
}

/**
 * Levels of each compression, and the default. gzip 3, not zlib's 6: on Kubernetes data it takes ~35% less CPU for a
 * ~6% bigger file (a 406 MB snapshot: 98 MB instead of 92 MB). zstd 1: on the bench's 425 MB snapshot, in 1 MiB
 * frames, it is as small as level 3 (92.7 and 92.6 MB) for ~25% less CPU (0.94 s against 1.22 s), and smaller than
 * gzip -3 (102.8 MB) for a quarter of its CPU (README, Performance). zstd's levels above 19 need more memory to decode
 * than reshifter allows per frame; its negative (fast) levels write files bigger than gzip's for little time saved.
 */
const COMPRESSION_LEVELS: Record<Compression, { min: number; max: number; default: number; name: string }> = {
  zstd: { min: 1, max: 19, default: 1, name: 'zstd level from 1 (fastest) to 19 (smallest)' },
  gzip: { min: 1, max: 9, default: 3, name: 'gzip level from 1 (fastest) to 9 (smallest)' },
  none: { min: 1, max: 19, default: 1, name: 'level from 1 to 19 (it does not apply without compression)' },
};
const levelsOf = (earlier: Earlier) => COMPRESSION_LEVELS[(earlier('RS_COMPRESSION') as Compression | undefined) ?? 'zstd'];

const NAMESPACE_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const RESOURCE_RE = /^[a-z0-9][a-z0-9.-]*$/;
const oneOf = <T extends string>(values: readonly T[]) => (value: string): T => coerce(value).asEnum(values);
const count = (value: string) => coerce(value).asIntPositive();
/** RS_DELTA_INTERVAL: a duration, or `0` for off. */
const deltaInterval = (value: string): number => (/^0+$/.test(value.trim()) ? 0 : parseDuration(value));
const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };
/** A size such as `64MiB`, `512KiB` or `1048576` (binary units), from 64 KiB to 1 GiB. */
function byteSize(value: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Number(m[1]) * unit : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 64 * 1024 || bytes > 1024 ** 3) throw new Error('is not a size from 64KiB to 1GiB (like 64MiB)');
  return bytes;
}
/** Both or neither of two variables. */
const together = (a: string, b: string, message: string) => (isSet: (name: string) => boolean) => (isSet(a) !== isSet(b) ? message : undefined);

/** Every variable reshifter reads, in the order they are read, checked and documented. */
export const VARIABLES: readonly Variable[] = [
  // etcd
  {
    name: 'RS_ETCD_ENDPOINTS', alias: 'RS_ETCD_ENDPOINT', parse: endpoints, default: ['http://127.0.0.1:2379'], field: 'etcd.endpoints',
    doc: { default: '`http://127.0.0.1:2379`', example: '`https://10.0.0.5:2379,https://10.0.0.6:2379`', meaning: 'etcd client URLs' },
  },
  {
    name: 'RS_ETCD_CA_CERT', parse: readableFile, field: 'etcd.caCertFile',
    doc: { default: '', example: '`/etc/kubernetes/pki/etcd/ca.crt`', meaning: "CA of etcd's server certificate (https endpoints)" },
  },
  {
    name: 'RS_ETCD_CLIENT_CERT', parse: readableFile, field: 'etcd.clientCertFile',
    doc: {
      label: '`RS_ETCD_CLIENT_CERT` / `RS_ETCD_CLIENT_KEY`', default: '',
      example: '`/etc/kubernetes/pki/etcd/healthcheck-client.crt` / `.key`', meaning: 'client certificate for mutual TLS (both or neither)',
    },
  },
  {
    name: 'RS_ETCD_CLIENT_KEY', parse: readableFile, field: 'etcd.clientKeyFile', doc: { row: 'RS_ETCD_CLIENT_CERT' },
    check: together('RS_ETCD_CLIENT_CERT', 'RS_ETCD_CLIENT_KEY', 'RS_ETCD_CLIENT_CERT and RS_ETCD_CLIENT_KEY must be set together (mutual TLS needs both)'),
  },
  {
    name: 'RS_ETCD_USERNAME', field: 'etcd.username',
    doc: { label: '`RS_ETCD_USERNAME` / `RS_ETCD_PASSWORD`', default: '', example: '`root` / `s3cret`', meaning: 'etcd user/password auth (both or neither)' },
  },
  {
    name: 'RS_ETCD_PASSWORD', secret: true, unset: 'empty', field: 'etcd.password', doc: { row: 'RS_ETCD_USERNAME' },
    check: together('RS_ETCD_USERNAME', 'RS_ETCD_PASSWORD', 'RS_ETCD_USERNAME and RS_ETCD_PASSWORD must be set together'),
  },
  {
    name: 'RS_ETCD_API_VERSION', unset: 'absent', parse: oneOf(['auto', 'v2', 'v3'] as const), default: 'auto', field: 'etcd.apiVersion',
    doc: { default: '`auto`', example: '`v2`', meaning: '`auto`, `v2` or `v3`' },
  },
  {
    name: 'RS_ETCD_TIMEOUT', parse: parseDuration, default: 30_000, field: 'etcd.timeoutMs',
    doc: { default: '`30s`', example: '`1m`', meaning: 'how long one etcd call may take, its retries included (the snapshot stream has no deadline)' },
  },
  // what and where
  {
    name: 'RS_BACKUP_STRATEGY', parse: parseStrategy, field: 'strategy',
    doc: { default: '`snapshot` (v3), `raw` (v2)', example: '`filter:deployments,services`', meaning: '`snapshot`, `raw`, `render`, `filter:<resources>`' },
  },
  {
    name: 'RS_CLUSTER_NAME', field: 'cluster', default: 'default',
    parse: matching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'should be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit'),
    doc: { default: '`default`', example: '`prod-eu-1`', meaning: "folder of this cluster's backups in the store" },
  },
  {
    name: 'RS_BACKUP_DIR', parse: writableFolder, default: './backups', field: 'store.dir',
    doc: { default: '`./backups`', example: '`/var/backups/etcd`', meaning: 'local store (used when `RS_S3_BUCKET` is unset)' },
  },
  {
    name: 'RS_S3_BUCKET', field: 'store.bucket',
    parse: matching(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'is not an S3 bucket name (3-63 lowercase letters, digits, "." and "-")'),
    doc: { default: '', example: '`etcd-backups`', meaning: 'selects the S3 store' },
  },
  {
    name: 'RS_S3_ENDPOINT', parse: (v) => url(v), field: 'store.endpoint',
    doc: { default: 'AWS', example: '`http://minio.minio:9000`', meaning: 'S3-compatible server' },
  },
  {
    name: 'RS_S3_REGION', default: 'us-east-1', field: 'store.region',
    parse: matching(/^[a-z0-9][a-z0-9-]{0,62}$/, 'is not a region name (lowercase letters, digits and "-", e.g. eu-central-1)'),
    doc: { default: '`us-east-1`', example: '`eu-central-1`', meaning: '' },
  },
  {
    name: 'RS_S3_PREFIX', parse: bucketFolder, default: '', field: 'store.prefix',
    doc: { default: '', example: '`clusters/prod`', meaning: 'folder inside the bucket' },
  },
  {
    name: 'RS_S3_FORCE_PATH_STYLE', unset: 'absent', parse: (v) => coerce(v).asBool(), field: 'store.forcePathStyle',
    defaultOf: (earlier) => earlier('RS_S3_ENDPOINT') !== undefined,
    doc: { default: '`true` with an endpoint, else `false`', example: '`true`', meaning: 'path-style addressing' },
  },
  {
    name: 'RS_S3_SSE', unset: 'absent', parse: oneOf(['AES256', 'aws:kms'] as const), field: 'store.sse',
    doc: { label: '`RS_S3_SSE` / `RS_S3_SSE_KMS_KEY_ID`', default: '', example: '`aws:kms` / `arn:aws:kms:...`', meaning: 'S3 server-side encryption' },
  },
  {
    name: 'RS_S3_SSE_KMS_KEY_ID', field: 'store.sseKmsKeyId', doc: { row: 'RS_S3_SSE' },
    check: (isSet, earlier) => (isSet('RS_S3_SSE_KMS_KEY_ID') && earlier('RS_S3_SSE') !== 'aws:kms' ? 'RS_S3_SSE_KMS_KEY_ID is set, but RS_S3_SSE is not "aws:kms"' : undefined),
  },
  {
    name: 'RS_S3_REQUEST_TIMEOUT', parse: parseDuration, default: 30_000, field: 'store.requestTimeoutMs',
    doc: {
      default: '`30s`', example: '`2m`',
      meaning: 'deadline of one attempt of one S3 request (a part is at most 8 MiB: raise it on links slower than ~300 KB/s); an attempt past it is cut off and retried',
    },
  },
  {
    name: 'RS_S3_RETRY_WINDOW', parse: parseDuration, default: 60_000, field: 'store.retryWindowMs',
    doc: {
      default: '`60s`', example: '`5m`',
      meaning: 'how long a failing S3 request is retried (exponential backoff with jitter) before the operation fails; long enough for an S3 server to restart',
    },
  },
  {
    name: 'ACCESS_KEY_ID', field: 'store.accessKeyId',
    doc: { label: '`ACCESS_KEY_ID` / `SECRET_ACCESS_KEY`', default: 'AWS SDK default chain', example: '', meaning: 'S3 credentials' },
  },
  {
    name: 'SECRET_ACCESS_KEY', secret: true, unset: 'empty', field: 'store.secretAccessKey', doc: { row: 'ACCESS_KEY_ID' },
    check: together('ACCESS_KEY_ID', 'SECRET_ACCESS_KEY', 'ACCESS_KEY_ID and SECRET_ACCESS_KEY must be set together'),
  },
  // codec
  {
    name: 'RS_COMPRESSION', unset: 'absent', parse: oneOf(['zstd', 'gzip', 'none'] as const), default: 'zstd', field: 'compression',
    doc: {
      default: '`zstd`', example: '`gzip`',
      meaning: '`zstd` (`.zst`), `gzip` (`.gz`) or `none` for new backups; every backup is read as its manifest says (see Compression)',
    },
  },
  {
    name: 'RS_COMPRESSION_LEVEL', unset: 'absent', field: 'compressionLevel',
    parse: (v, earlier) => intRange(levelsOf(earlier).min, levelsOf(earlier).max, levelsOf(earlier).name)(v),
    defaultOf: (earlier) => levelsOf(earlier).default,
    doc: {
      default: '`1` (zstd), `3` (gzip)', example: '`3`',
      meaning: 'zstd 1-19 (level 1 is as small as 3 on Kubernetes data for ~25% less CPU); gzip 1-9 (3 takes ~35% less CPU than 6 for a ~6% bigger file)',
    },
  },
  {
    name: 'RS_ENCRYPTION_RECIPIENTS', parse: ageRecipients, default: [], field: 'encryption.recipients',
    doc: { default: '', example: '`age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p`', meaning: 'age public keys; encrypts every artifact' },
  },
  {
    name: 'RS_ENCRYPTION_IDENTITY_FILE', parse: ageIdentityFile, field: 'encryption.identityFile',
    doc: { label: '`RS_ENCRYPTION_IDENTITY_FILE` / `RS_ENCRYPTION_IDENTITY`', default: '', example: '`/keys/age.txt`', meaning: 'age identity for reading encrypted backups' },
  },
  { name: 'RS_ENCRYPTION_IDENTITY', secret: true, parse: ageIdentity, field: 'encryption.identity', doc: { row: 'RS_ENCRYPTION_IDENTITY_FILE' } },
  {
    name: 'RS_ENCRYPTION_PASSPHRASE', secret: true, unset: 'empty', field: 'encryption.passphrase',
    check: (isSet, earlier) =>
      isSet('RS_ENCRYPTION_PASSPHRASE') && ((earlier('RS_ENCRYPTION_RECIPIENTS') as string[] | undefined) ?? []).length > 0
        ? 'RS_ENCRYPTION_PASSPHRASE and RS_ENCRYPTION_RECIPIENTS cannot both be set: age encrypts to one or the other'
        : undefined,
    doc: { default: '', example: '', meaning: 'age passphrase mode (write and read)' },
  },
  // schedule and retention
  {
    name: 'RS_SCHEDULE', parse: cronExpression, field: 'schedule',
    doc: { default: '', example: '`0 */6 * * *`', meaning: 'cron expression for `run` (5 fields, or 6 with seconds); without it `run` only serves HTTP' },
  },
  {
    name: 'RS_RETENTION_KEEP_LAST', unset: 'absent', parse: count, field: 'retention.keepLast',
    doc: { default: '', example: '`7`', meaning: 'keep the newest N' },
  },
  {
    name: 'RS_RETENTION_KEEP_HOURLY', unset: 'absent', parse: count, field: 'retention.keepHourly',
    doc: {
      label: '`RS_RETENTION_KEEP_HOURLY` / `_DAILY` / `_WEEKLY` / `_MONTHLY`', default: '', example: '`24` / `7` / `4` / `12`',
      meaning: 'keep the newest in each of the N most recent hours/days/ISO weeks/months (UTC) that have a backup',
    },
  },
  { name: 'RS_RETENTION_KEEP_DAILY', unset: 'absent', parse: count, field: 'retention.keepDaily', doc: { row: 'RS_RETENTION_KEEP_HOURLY' } },
  { name: 'RS_RETENTION_KEEP_WEEKLY', unset: 'absent', parse: count, field: 'retention.keepWeekly', doc: { row: 'RS_RETENTION_KEEP_HOURLY' } },
  { name: 'RS_RETENTION_KEEP_MONTHLY', unset: 'absent', parse: count, field: 'retention.keepMonthly', doc: { row: 'RS_RETENTION_KEEP_HOURLY' } },
  {
    name: 'RS_RETENTION_MAX_AGE', parse: parseDuration, field: 'retention.maxAgeMs',
    doc: { default: '', example: '`30d`', meaning: 'keep everything younger (`90m`, `12h`, `30d`, `2w`)' },
  },
  // continuous backups
  {
    name: 'RS_DELTA_INTERVAL', parse: deltaInterval, default: 0, field: 'delta.intervalMs',
    check: (isSet, earlier) => {
      if (!isSet('RS_DELTA_INTERVAL') || earlier('RS_DELTA_INTERVAL') === 0) return undefined;
      if ((earlier('RS_BACKUP_STRATEGY') as { kind?: string } | undefined)?.kind === 'render') {
        return 'RS_DELTA_INTERVAL needs full backups that hold values (snapshot, raw or filter:), but RS_BACKUP_STRATEGY is render';
      }
      return earlier('RS_ETCD_API_VERSION') === 'v2' ? 'RS_DELTA_INTERVAL watches the v3 keyspace, but RS_ETCD_API_VERSION is v2' : undefined;
    },
    doc: {
      default: '', example: '`2s`',
      meaning: '`run` records every change between full backups as delta segments, one per interval with changes (`0`: off); see Continuous backups',
    },
  },
  {
    name: 'RS_DELTA_MAX_BYTES', parse: byteSize, default: 64 * 1024 * 1024, field: 'delta.maxBytes',
    doc: { default: '`64MiB`', example: '`16MiB`', meaning: 'a delta segment is cut early when its changes reach this size' },
  },
  // Kubernetes selection
  {
    name: 'RS_KUBE_PREFIXES', parse: prefixes, default: [], field: 'selection.prefixes',
    doc: { default: 'detected', example: '`/registry,/openshift.io`', meaning: 'key prefixes of dumps (`/` = every key)' },
  },
  {
    name: 'RS_INCLUDE_NAMESPACES', parse: namesOf(NAMESPACE_RE, 'namespace name'), default: [], field: 'selection.includeNamespaces',
    doc: { label: '`RS_INCLUDE_NAMESPACES` / `RS_EXCLUDE_NAMESPACES`', default: '', example: '`prod,staging`', meaning: 'namespace filters of dumps and restores' },
  },
  {
    name: 'RS_EXCLUDE_NAMESPACES', parse: namesOf(NAMESPACE_RE, 'namespace name'), default: [], field: 'selection.excludeNamespaces',
    doc: { row: 'RS_INCLUDE_NAMESPACES' },
  },
  {
    name: 'RS_INCLUDE_RESOURCES', parse: namesOf(RESOURCE_RE, 'resource name'), default: [], field: 'selection.includeResources',
    doc: { label: '`RS_INCLUDE_RESOURCES` / `RS_EXCLUDE_RESOURCES`', default: '', example: '`secrets,configmaps`', meaning: 'resource filters of dumps and restores' },
  },
  {
    name: 'RS_EXCLUDE_RESOURCES', parse: namesOf(RESOURCE_RE, 'resource name'), default: [], field: 'selection.excludeResources',
    doc: { row: 'RS_INCLUDE_RESOURCES' },
  },
  // serving
  {
    name: 'RS_HTTP_PORT', unset: 'absent', parse: intRange(0, 65535, 'port from 0 (disabled) to 65535'), default: 8080, field: 'httpPort',
    doc: { default: '`8080`', example: '`0`', meaning: 'HTTP port of `run` (`0` disables)' },
  },
  {
    name: 'RS_PUSHGATEWAY_URL', parse: (v) => url(v), field: 'pushgatewayUrl',
    doc: { default: '', example: '`http://pushgateway:9091`', meaning: 'where one-off backups push metrics' },
  },
  {
    name: 'RS_API_TOKEN', secret: true, unset: 'empty', field: 'apiToken',
    parse: (v) => {
      if (v.length < 16) throw new Error('should be at least 16 characters');
      return v;
    },
    doc: { default: '', example: '', meaning: 'bearer token of the HTTP API, 16 characters or more; without it the API is read-only' },
  },
  {
    name: 'LOG_LEVEL', unset: 'absent', parse: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const), default: 'info', field: 'logLevel',
    doc: { default: '`info`', example: '`debug`', meaning: '`trace` … `fatal`, `silent`' },
  },
];
