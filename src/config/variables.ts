import { parseDuration, parseWaitDuration } from '../core/duration.js';
import { parseCheckpointTargets } from '../core/checkpoint-targets.js';
import { checkpointDirProblem, isCheckpoint, kubeletServerName, kubeletUrl } from './checkpoint-parsers.js';
import { parseStrategyToTake } from '../core/strategy.js';
import {
  ageIdentity, ageIdentityFile, ageRecipients, bucketFolder, bucketName, coerce, cronExpression, endpoints, existingWritableFolder, intRange, listenAddress, localPath, matching, namesOf, resourceNames,
  etcdKeyFile, kubeletKeyFile, notPlaceholder, prefixes, plainFile, readableFolder, s3Endpoint, url, writableFolder,
} from './parsers.js';
import type { Compression } from './types.js';

/**
 * What a variable configures. A command declares the groups it uses (COMMANDS in cli.ts): its help lists their
 * variables, and only their `present` checks (files, folders) run for it. `general` applies to every command.
 */
export type VariableGroup =
  | 'general' | 'etcd' | 'store' | 'backup' | 'encryption' | 'decryption' | 'schedule' | 'retention' | 'selection' | 'server' | 'metrics'
  | 'work area' | 'checkpoint';

/** Each group's name in help texts, in the order help lists them. */
export const GROUPS: Record<VariableGroup, string> = {
  etcd: 'etcd connection',
  store: 'store',
  backup: 'how backups are taken',
  encryption: 'encryption (writing)',
  decryption: 'decryption (reading)',
  schedule: 'schedule',
  retention: 'retention',
  selection: 'Kubernetes selection',
  server: 'HTTP server',
  metrics: 'metrics',
  'work area': 'work area',
  checkpoint: 'container checkpoints (kubelet)',
  general: 'general',
};

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
   * Where `empty` refuses a blank value, only a missing variable is unset: this then says only whether a value is
   * trimmed (`blank`) or taken as it is.
   */
  unset?: 'blank' | 'empty' | 'absent';
  /** What it configures: commands declare the groups they use (cli.ts), for their help and for `present`. */
  group: VariableGroup;
  /** Other groups whose help lists it too: a passphrase writes backups and reads them. */
  alsoIn?: readonly VariableGroup[];
  /** Turns the value into what Config holds; throws an Error that completes `NAME was invalid: "value" ...`. */
  parse?: (value: string, earlier: Earlier) => unknown;
  /**
   * What the value names must be there (a file to read, a folder to write): checked only when the command uses the
   * variable's group, so a copied env file with the server's paths still lets `list` run on a laptop. Throws as
   * `parse` does. The syntax (`parse`) is checked for every command.
   */
  present?: (value: string, groups: ReadonlySet<VariableGroup>, isSet: (name: string) => boolean) => void;
  /**
   * `present` checks the default too (a string): a default that names a place relative to the working directory
   * (`./backups`), which a non-root user's working directory (`/`, a root-owned WORKDIR) may not let it create.
   */
  presentDefault?: boolean;
  /** What Config holds when the variable is not set (not parsed; may depend on variables read before). */
  default?: unknown;
  defaultOf?: (earlier: Earlier) => unknown;
  /** Where in Config the value goes (a dotted path); the S3 fields apply only when RS_S3_BUCKET is set. */
  field: string;
  /** A rule across variables, checked once this one is read: a message when it is broken. */
  check?: (isSet: (name: string) => boolean, earlier: Earlier) => string | undefined;
  /**
   * What it means set but empty (or only spaces), as an empty ConfigMap or Secret key or an env file's `NAME=` leave
   * it: `means`, for a variable where that has one obvious meaning harmless to take (its README row says it), or the
   * two ways out of a refusal, for one where an empty value is a mistake that would otherwise pass for unset and
   * silently change what reshifter does (where backups go, whether they are encrypted or taken at all, what they hold
   * or keep, what is trusted): `NAME is set but empty: give <give>, or unset it <unset>` (exit 2).
   */
  empty: { means: string } | { give: string; unset: string };
  /** Its README row: variable, default, example, meaning (markdown); or the variable whose row it shares. */
  doc: { label?: string; default: string; example: string; meaning: string } | { row: string };
}

/**
 * Levels of each compression, and the default. gzip 3, not zlib's 6: on Kubernetes data it takes ~35% less CPU for a
 * ~6% bigger file (a 406 MB snapshot: 98 MB instead of 92 MB). zstd 1: on the bench's 425 MB snapshot, in 1 MiB
 * frames, it is as small as level 3 (92.7 and 92.6 MB) for ~25% less CPU (0.94 s against 1.22 s), and smaller than
 * gzip -3 (102.8 MB) for a quarter of its CPU (bench/results/HISTORY.md). zstd's levels above 19 need more memory to decode
 * than reshifter allows per frame; its negative (fast) levels write files bigger than gzip's for little time saved.
 */
const COMPRESSION_LEVELS: Record<Compression, { min: number; max: number; default: number; name: string }> = {
  zstd: { min: 1, max: 19, default: 1, name: 'zstd level from 1 (fastest) to 19 (smallest)' },
  gzip: { min: 1, max: 9, default: 3, name: 'gzip level from 1 (fastest) to 9 (smallest)' },
  none: { min: 1, max: 19, default: 1, name: 'level from 1 to 19 (it does not apply without compression)' },
};
const levelsOf = (earlier: Earlier) => COMPRESSION_LEVELS[(earlier('RS_COMPRESSION') as Compression | undefined) ?? 'zstd'];

/** An RS_S3_ENDPOINT whose path starts with the bucket (`http://minio:9000/etcd-backups`): the message saying so. */
function bucketInEndpoint(endpoint: string | undefined, bucket: string | undefined): string | undefined {
  if (endpoint === undefined || bucket === undefined) return undefined;
  const u = new URL(endpoint);
  if (u.pathname.split('/')[1] !== bucket) return undefined;
  // Shown without any user:password in it.
  return `RS_S3_ENDPOINT was invalid: "${u.origin}${u.pathname.replace(/\/+$/, '')}" has the bucket in its path: give the server only (${u.origin}), the bucket is RS_S3_BUCKET`;
}

const NAMESPACE_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const RESOURCE_RE = /^[a-z0-9][a-z0-9.-]*$/;
const oneOf = <T extends string>(values: readonly T[]) => (value: string): T => coerce(value).asEnum(values);
/**
 * A retention count: 1 or more. `0` is refused, not read as "keep none" (which deletes the whole history but the newest
 * of each series) nor as "off": leave the variable unset to switch the rule off.
 */
const count = (value: string): number => {
  const n = coerce(value).asIntPositive();
  if (n === 0) throw new Error('keeps nothing: give 1 or more, or leave it unset to switch this rule off');
  return n;
};
/** A retention count set but empty: refused, as `0` is (count). */
const KEEP_EMPTY = { give: '1 or more', unset: 'to switch this rule off' };
/** RS_DELTA_INTERVAL: a duration, or `0` (`0s`, `0m`...) for off. */
const deltaInterval = (value: string): number => (/^0+\s*[a-z]*$/i.test(value.trim()) ? 0 : parseWaitDuration(value));
const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };
/** A size such as `64MiB`, `512KiB` or `1048576` (binary units), from 64 KiB to 1 GiB. */
function byteSize(value: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Number(m[1]) * unit : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 64 * 1024 || bytes > 1024 ** 3) throw new Error('is not a size from 64KiB to 1GiB (like 64MiB)');
  return bytes;
}
/** Host names as a Host header carries them (no port, no scheme), compared in lower case. */
const hostNames = (value: string): string[] =>
  namesOf(/^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/i, 'host name (like reshifter.example.com: no scheme, no port)')(value).map((h) => h.toLowerCase());
/** Both or neither of two variables. */
const together = (a: string, b: string, message: string) => (isSet: (name: string) => boolean) => (isSet(a) !== isSet(b) ? message : undefined);

/** Every variable reshifter reads, in the order they are read, checked and documented. */
export const VARIABLES: readonly Variable[] = [
  // etcd
  {
    // Set but empty is a mistake (an env file's `RS_ETCD_ENDPOINTS=`, a template that expanded to nothing), never a
    // wish for the default: that would back up, or restore into, whatever etcd listens on this host.
    name: 'RS_ETCD_ENDPOINTS', group: 'etcd', alias: 'RS_ETCD_ENDPOINT', unset: 'absent', parse: (v) => endpoints(v), default: ['http://127.0.0.1:2379'], field: 'etcd.endpoints',
    empty: { give: "etcd's client URLs (like https://10.0.0.5:2379)", unset: 'for http://127.0.0.1:2379' },
    doc: { default: '`http://127.0.0.1:2379` (`https://` with TLS files)', example: '`https://10.0.0.5:2379,https://10.0.0.6:2379`', meaning: 'etcd client URLs, of one cluster (members of two are refused before any work; one named twice is used once, with a warning); a bare `host:port` is https with TLS files, as etcdctl takes it' },
  },
  {
    name: 'RS_ETCD_CA_CERT', group: 'etcd', parse: localPath, present: etcdKeyFile, field: 'etcd.caCertFile',
    empty: { give: "the file of the CA of etcd's server certificate", unset: "to trust the system's CAs" },
    doc: { default: '', example: '`/etc/kubernetes/pki/etcd/ca.crt`', meaning: "CA of etcd's server certificate (https endpoints)" },
  },
  {
    name: 'RS_ETCD_CLIENT_CERT', group: 'etcd', parse: localPath, present: etcdKeyFile, field: 'etcd.clientCertFile',
    empty: { give: "the client certificate's file", unset: 'with RS_ETCD_CLIENT_KEY for no client certificate' },
    doc: {
      label: '`RS_ETCD_CLIENT_CERT` / `RS_ETCD_CLIENT_KEY`', default: '',
      example: '`/etc/kubernetes/pki/etcd/healthcheck-client.crt` / `.key`', meaning: 'client certificate for mutual TLS (both or neither)',
    },
  },
  {
    name: 'RS_ETCD_CLIENT_KEY', group: 'etcd', parse: localPath, present: etcdKeyFile, field: 'etcd.clientKeyFile', doc: { row: 'RS_ETCD_CLIENT_CERT' },
    empty: { give: "the client certificate's key file", unset: 'with RS_ETCD_CLIENT_CERT for no client certificate' },
    check: together('RS_ETCD_CLIENT_CERT', 'RS_ETCD_CLIENT_KEY', 'RS_ETCD_CLIENT_CERT and RS_ETCD_CLIENT_KEY must be set together (mutual TLS needs both)'),
  },
  {
    name: 'RS_ETCD_USERNAME', group: 'etcd', field: 'etcd.username',
    empty: { give: "etcd's user name", unset: 'with RS_ETCD_PASSWORD for no user/password auth' },
    doc: { label: '`RS_ETCD_USERNAME` / `RS_ETCD_PASSWORD`', default: '', example: '`root` / `s3cret`', meaning: 'etcd user/password auth (both or neither)' },
  },
  {
    name: 'RS_ETCD_PASSWORD', group: 'etcd', secret: true, unset: 'empty', field: 'etcd.password', doc: { row: 'RS_ETCD_USERNAME' },
    empty: { give: "the user's password", unset: 'with RS_ETCD_USERNAME for no user/password auth' },
    check: together('RS_ETCD_USERNAME', 'RS_ETCD_PASSWORD', 'RS_ETCD_USERNAME and RS_ETCD_PASSWORD must be set together'),
  },
  {
    name: 'RS_ETCD_API_VERSION', group: 'etcd', unset: 'absent', parse: oneOf(['auto', 'v2', 'v3'] as const), default: 'auto', field: 'etcd.apiVersion',
    empty: { give: 'auto, v2 or v3', unset: 'for auto' },
    doc: { default: '`auto`', example: '`v2`', meaning: '`auto`, `v2` or `v3`' },
  },
  {
    name: 'RS_ETCD_TIMEOUT', group: 'etcd', parse: parseWaitDuration, default: 30_000, field: 'etcd.timeoutMs',
    empty: { means: 'as unset' },
    doc: { default: '`30s`', example: '`1m`', meaning: 'how long one etcd call may take, its retries included (the snapshot stream has no deadline)' },
  },
  // what and where
  {
    // Set but empty is refused: the default strategy would take another kind of backup than the one meant.
    name: 'RS_BACKUP_STRATEGY', group: 'backup', parse: parseStrategyToTake, field: 'strategy',
    empty: { give: 'snapshot, raw, render, filter:<resources> or checkpoint', unset: 'for snapshot (raw from a v2 etcd)' },
    doc: { default: '`snapshot` (v3), `raw` (v2)', example: '`filter:deployments,services`', meaning: '`snapshot`, `raw`, `render`, `filter:<resources>`' },
  },
  {
    // Set but empty is refused: `default` would put this cluster's backups, and its retention, with another's.
    name: 'RS_CLUSTER_NAME', group: 'store', field: 'cluster', default: 'default',
    parse: matching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'should be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit'),
    empty: { give: "this cluster's name (its folder in the store)", unset: 'for default' },
    doc: { default: '`default`', example: '`prod-eu-1`', meaning: "folder of this cluster's backups in the store" },
  },
  {
    // Set but empty is refused, not the default: a manifest's missing value would put backups somewhere unmeant.
    // Commands that take backups or apply retention write the store; the others only read it (a store mounted
    // read-only for a recovery). With RS_S3_BUCKET the folder is not the store and is not checked: the image sets
    // RS_BACKUP_DIR=/backups, which every manifest's read-only root file system makes unwritable.
    name: 'RS_BACKUP_DIR', group: 'store', parse: localPath,
    present: (v, groups, isSet) => void (isSet('RS_S3_BUCKET') ? undefined : groups.has('backup') || groups.has('retention') ? writableFolder(v) : readableFolder(v)),
    presentDefault: true, default: './backups', field: 'store.dir',
    empty: { give: "the local store's folder", unset: 'for ./backups' },
    doc: { default: '`./backups`', example: '`/var/backups/etcd`', meaning: 'local store (used, and its folder checked, only when `RS_S3_BUCKET` is unset: the image\'s `/backups` on a read-only root file system is no error beside S3); may be read-only for the commands that only read it (`list`, `verify`, `inspect`, `stats`, `diff`, `restore`)' },
  },
  {
    // Set but empty is refused: an empty Secret or ConfigMap key would otherwise send backups to the local store,
    // which in a pod is its ephemeral filesystem.
    name: 'RS_S3_BUCKET', group: 'store', field: 'store.bucket', unset: 'absent',
    parse: bucketName,
    empty: { give: 'the bucket', unset: 'for the local store (RS_BACKUP_DIR)' },
    doc: { default: '', example: '`etcd-backups`', meaning: 'selects the S3 store; the name alone (`s3://etcd-backups/prod` and `etcd-backups/prod` are refused, naming the bucket and the `RS_S3_PREFIX` to set)' },
  },
  {
    name: 'RS_S3_ENDPOINT', group: 'store', parse: s3Endpoint, field: 'store.endpoint',
    // A MinIO console's URL of the bucket (http://minio:9000/etcd-backups) would address every object under a bucket
    // folder that does not exist: each backup id is then "not found", though the bucket holds it.
    check: (_isSet, earlier) => bucketInEndpoint(earlier('RS_S3_ENDPOINT') as string | undefined, earlier('RS_S3_BUCKET') as string | undefined),
    empty: { give: "the S3-compatible server's URL", unset: 'for AWS' },
    doc: { default: 'AWS', example: '`http://minio.minio:9000`', meaning: 'S3-compatible server (no user:password in it: the credentials go in `ACCESS_KEY_ID` and `SECRET_ACCESS_KEY`)' },
  },
  {
    name: 'RS_S3_CA_CERT', group: 'store', parse: localPath, present: plainFile, field: 'store.caCertFile',
    empty: { give: "the file of the CA of the S3 server's certificate", unset: "to trust the system's CAs" },
    doc: { default: '', example: '`/etc/minio/ca.crt`', meaning: "CA (PEM) of the S3 server's certificate (an https endpoint signed by a private CA), trusted in place of the system's CAs" },
  },
  {
    // Set but empty is the default: a wrong region is named from AWS's reply (s3-store.ts), and other servers ignore it.
    name: 'RS_S3_REGION', group: 'store', default: 'us-east-1', field: 'store.region',
    parse: matching(/^[a-z0-9][a-z0-9-]{0,62}$/, 'is not a region name (lowercase letters, digits and "-", e.g. eu-central-1)'),
    empty: { means: 'as unset' },
    doc: { default: '`us-east-1`', example: '`eu-central-1`', meaning: "the bucket's region (when requests are signed for another, AWS's reply names the bucket's, and so does the error)" },
  },
  {
    name: 'RS_S3_PREFIX', group: 'store', parse: bucketFolder, default: '', field: 'store.prefix',
    empty: { means: 'no folder (backups at the top of the bucket)' },
    doc: { default: '', example: '`clusters/prod`', meaning: 'folder inside the bucket (the folder alone: `s3://etcd-backups/prod` is refused, naming `prod`, and `s3:/etcd-backups/prod`, where earlier versions stored its backups)' },
  },
  {
    name: 'RS_S3_FORCE_PATH_STYLE', group: 'store', unset: 'absent', parse: (v) => coerce(v).asBool(), field: 'store.forcePathStyle',
    defaultOf: (earlier) => earlier('RS_S3_ENDPOINT') !== undefined,
    empty: { give: 'true or false', unset: 'for true with RS_S3_ENDPOINT, else false' },
    doc: { default: '`true` with an endpoint, else `false`', example: '`true`', meaning: 'path-style addressing' },
  },
  {
    name: 'RS_S3_SSE', group: 'store', unset: 'absent', parse: oneOf(['AES256', 'aws:kms'] as const), field: 'store.sse',
    empty: { give: 'AES256 or aws:kms', unset: "for the bucket's default encryption" },
    doc: { label: '`RS_S3_SSE` / `RS_S3_SSE_KMS_KEY_ID`', default: '', example: '`aws:kms` / `arn:aws:kms:...`', meaning: 'S3 server-side encryption' },
  },
  {
    name: 'RS_S3_SSE_KMS_KEY_ID', group: 'store', field: 'store.sseKmsKeyId', doc: { row: 'RS_S3_SSE' },
    empty: { give: "the KMS key's ID or ARN", unset: 'for the AWS managed key (aws/s3)' },
    check: (isSet, earlier) => (isSet('RS_S3_SSE_KMS_KEY_ID') && earlier('RS_S3_SSE') !== 'aws:kms' ? 'RS_S3_SSE_KMS_KEY_ID is set, but RS_S3_SSE is not "aws:kms"' : undefined),
  },
  {
    name: 'RS_S3_REQUEST_TIMEOUT', group: 'store', parse: parseWaitDuration, default: 30_000, field: 'store.requestTimeoutMs',
    empty: { means: 'as unset' },
    doc: {
      default: '`30s`', example: '`2m`',
      meaning: 'deadline of one attempt of one S3 request (a part is at most 8 MiB: raise it on links slower than ~300 KB/s); an attempt past it is cut off and retried',
    },
  },
  {
    name: 'RS_S3_RETRY_WINDOW', group: 'store', parse: parseWaitDuration, default: 60_000, field: 'store.retryWindowMs',
    empty: { means: 'as unset' },
    doc: {
      default: '`60s`', example: '`5m`',
      meaning: 'how long a failing S3 request is retried (exponential backoff with jitter) before the operation fails; long enough for an S3 server to restart',
    },
  },
  {
    name: 'ACCESS_KEY_ID', group: 'store', field: 'store.accessKeyId',
    empty: { give: 'the access key ID', unset: "with SECRET_ACCESS_KEY for the AWS SDK's default credentials (AWS_* variables, an instance or pod role)" },
    doc: { label: '`ACCESS_KEY_ID` / `SECRET_ACCESS_KEY`', default: 'AWS SDK default chain', example: '', meaning: 'S3 credentials' },
  },
  {
    name: 'SECRET_ACCESS_KEY', group: 'store', secret: true, unset: 'empty', field: 'store.secretAccessKey', doc: { row: 'ACCESS_KEY_ID' },
    empty: { give: 'the secret access key', unset: "with ACCESS_KEY_ID for the AWS SDK's default credentials (AWS_* variables, an instance or pod role)" },
    check: together('ACCESS_KEY_ID', 'SECRET_ACCESS_KEY', 'ACCESS_KEY_ID and SECRET_ACCESS_KEY must be set together'),
  },
  // codec
  {
    name: 'RS_COMPRESSION', group: 'backup', unset: 'absent', parse: oneOf(['zstd', 'gzip', 'none'] as const), default: 'zstd', field: 'compression',
    empty: { give: 'zstd, gzip or none', unset: 'for zstd' },
    doc: {
      default: '`zstd`', example: '`gzip`',
      meaning: '`zstd` (`.zst`), `gzip` (`.gz`) or `none` for new backups; every backup is read as its manifest says (see Compression)',
    },
  },
  {
    name: 'RS_COMPRESSION_LEVEL', group: 'backup', unset: 'absent', field: 'compressionLevel',
    parse: (v, earlier) => intRange(levelsOf(earlier).min, levelsOf(earlier).max, levelsOf(earlier).name)(v),
    defaultOf: (earlier) => levelsOf(earlier).default,
    empty: { give: 'a level (zstd 1-19, gzip 1-9)', unset: "for the compression's default (zstd 1, gzip 3)" },
    doc: {
      default: '`1` (zstd), `3` (gzip)', example: '`3`',
      meaning: 'zstd 1-19 (level 1 is as small as 3 on Kubernetes data for ~25% less CPU); gzip 1-9 (3 takes ~35% less CPU than 6 for a ~6% bigger file)',
    },
  },
  {
    name: 'RS_ENCRYPTION_RECIPIENTS', group: 'encryption', parse: ageRecipients, default: [], field: 'encryption.recipients',
    empty: { give: 'age public keys (age1...)', unset: 'to write backups unencrypted (or with RS_ENCRYPTION_PASSPHRASE)' },
    doc: { default: '', example: '`age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p`', meaning: 'age public keys (commas or lines; `#` comments as in a recipients file); encrypts every artifact' },
  },
  {
    name: 'RS_ENCRYPTION_IDENTITY_FILE', group: 'decryption', parse: localPath, present: ageIdentityFile, field: 'encryption.identityFile',
    empty: { give: 'the file of an age identity that reads the backups', unset: 'when no backup is encrypted to a key' },
    doc: { label: '`RS_ENCRYPTION_IDENTITY_FILE` / `RS_ENCRYPTION_IDENTITY`', default: '', example: '`/keys/age.txt`', meaning: 'age identity for reading encrypted backups (the variable: a key, or age-keygen\'s whole file)' },
  },
  {
    name: 'RS_ENCRYPTION_IDENTITY', group: 'decryption', secret: true, parse: ageIdentity, field: 'encryption.identity', doc: { row: 'RS_ENCRYPTION_IDENTITY_FILE' },
    empty: { give: 'an age secret key (AGE-SECRET-KEY-1...)', unset: 'when no backup is encrypted to a key' },
  },
  {
    name: 'RS_ENCRYPTION_PASSPHRASE', group: 'encryption', alsoIn: ['decryption'], secret: true, unset: 'empty', field: 'encryption.passphrase',
    // Refused only where backups are taken: the ones already encrypted with it must stay readable (restore, verify).
    present: (v, groups) => void (groups.has('backup') && notPlaceholder('give a long random passphrase of your own (e.g. openssl rand -base64 32) for new backups; those taken with the placeholder are read with it (restore, verify)')(v)),
    check: (isSet, earlier) =>
      isSet('RS_ENCRYPTION_PASSPHRASE') && ((earlier('RS_ENCRYPTION_RECIPIENTS') as string[] | undefined) ?? []).length > 0
        ? 'RS_ENCRYPTION_PASSPHRASE and RS_ENCRYPTION_RECIPIENTS cannot both be set: age encrypts to one or the other'
        : undefined,
    empty: { give: 'the passphrase', unset: 'to write backups unencrypted (or to RS_ENCRYPTION_RECIPIENTS)' },
    doc: { default: '', example: '', meaning: 'age passphrase mode (write and read); the placeholder of `manifests/secret.example.yaml` (`replace-with-...`) is refused for new backups, and still reads those taken with it' },
  },
  // schedule and retention
  {
    name: 'RS_SCHEDULE', group: 'schedule', parse: cronExpression, field: 'schedule',
    empty: { give: 'a cron expression (like 0 */6 * * *)', unset: 'for run to only serve HTTP, taking no backups' },
    doc: { default: '', example: '`0 */6 * * *`', meaning: 'cron expression for `run` (5 fields, or 6 with seconds), in the time zone of `TZ` (an IANA name like `Europe/Berlin`; the system zone when unset, UTC in the image; a name Node does not know is refused); without it `run` only serves HTTP' },
  },
  {
    name: 'RS_RETENTION_KEEP_LAST', group: 'retention', unset: 'absent', parse: count, field: 'retention.keepLast',
    empty: KEEP_EMPTY,
    doc: { default: '', example: '`7`', meaning: 'keep the newest N' },
  },
  {
    name: 'RS_RETENTION_KEEP_HOURLY', group: 'retention', unset: 'absent', parse: count, field: 'retention.keepHourly',
    empty: KEEP_EMPTY,
    doc: {
      label: '`RS_RETENTION_KEEP_HOURLY` / `_DAILY` / `_WEEKLY` / `_MONTHLY`', default: '', example: '`24` / `7` / `4` / `12`',
      meaning: 'keep the newest in each of the N most recent hours/days/ISO weeks/months (UTC) that have a backup',
    },
  },
  { name: 'RS_RETENTION_KEEP_DAILY', group: 'retention', unset: 'absent', parse: count, field: 'retention.keepDaily', empty: KEEP_EMPTY, doc: { row: 'RS_RETENTION_KEEP_HOURLY' } },
  { name: 'RS_RETENTION_KEEP_WEEKLY', group: 'retention', unset: 'absent', parse: count, field: 'retention.keepWeekly', empty: KEEP_EMPTY, doc: { row: 'RS_RETENTION_KEEP_HOURLY' } },
  { name: 'RS_RETENTION_KEEP_MONTHLY', group: 'retention', unset: 'absent', parse: count, field: 'retention.keepMonthly', empty: KEEP_EMPTY, doc: { row: 'RS_RETENTION_KEEP_HOURLY' } },
  {
    name: 'RS_RETENTION_MAX_AGE', group: 'retention', parse: parseDuration, field: 'retention.maxAgeMs',
    empty: { give: 'an age (like 30d)', unset: 'to switch this rule off' },
    doc: { default: '', example: '`30d`', meaning: 'keep everything younger (`90m`, `12h`, `30d`, `2w`)' },
  },
  // continuous backups
  {
    name: 'RS_DELTA_INTERVAL', group: 'backup', parse: deltaInterval, default: 0, field: 'delta.intervalMs',
    check: (isSet, earlier) => {
      if (!isSet('RS_DELTA_INTERVAL') || earlier('RS_DELTA_INTERVAL') === 0) return undefined;
      if ((earlier('RS_BACKUP_STRATEGY') as { kind?: string } | undefined)?.kind === 'render') {
        return 'RS_DELTA_INTERVAL needs full backups that hold values (snapshot, raw or filter:), but RS_BACKUP_STRATEGY is render';
      }
      return earlier('RS_ETCD_API_VERSION') === 'v2' ? 'RS_DELTA_INTERVAL watches the v3 keyspace, but RS_ETCD_API_VERSION is v2' : undefined;
    },
    empty: { give: 'an interval (like 2s), or 0 for off', unset: 'for off' },
    doc: {
      default: '', example: '`2s`',
      meaning: '`run` records every change between full backups as delta segments, one per interval with changes (`0`: off); see Continuous backups',
    },
  },
  {
    name: 'RS_DELTA_MAX_BYTES', group: 'backup', parse: byteSize, default: 64 * 1024 * 1024, field: 'delta.maxBytes',
    empty: { means: 'as unset' },
    doc: { default: '`64MiB`', example: '`16MiB`', meaning: 'a delta segment is cut early when its changes reach this size' },
  },
  // Kubernetes selection
  {
    name: 'RS_KUBE_PREFIXES', group: 'selection', parse: prefixes, default: [], field: 'selection.prefixes',
    empty: { means: 'as unset' },
    doc: { default: 'detected', example: '`/registry,/openshift.io`', meaning: 'key prefixes of dumps (`/` = every key)' },
  },
  {
    // The four filters refuse set but empty: no filter would back up (secrets) or restore more than was meant.
    name: 'RS_INCLUDE_NAMESPACES', group: 'selection', parse: namesOf(NAMESPACE_RE, 'namespace name'), default: [], field: 'selection.includeNamespaces',
    empty: { give: 'namespace names', unset: 'for every namespace' },
    doc: { label: '`RS_INCLUDE_NAMESPACES` / `RS_EXCLUDE_NAMESPACES`', default: '', example: '`prod,staging`', meaning: 'namespace filters of dumps and restores' },
  },
  {
    name: 'RS_EXCLUDE_NAMESPACES', group: 'selection', parse: namesOf(NAMESPACE_RE, 'namespace name'), default: [], field: 'selection.excludeNamespaces',
    empty: { give: 'namespace names', unset: 'to exclude none' },
    doc: { row: 'RS_INCLUDE_NAMESPACES' },
  },
  {
    name: 'RS_INCLUDE_RESOURCES', group: 'selection', parse: resourceNames(RESOURCE_RE), default: [], field: 'selection.includeResources',
    empty: { give: 'resource names', unset: 'for every resource' },
    doc: { label: '`RS_INCLUDE_RESOURCES` / `RS_EXCLUDE_RESOURCES`', default: '', example: '`secrets,configmaps`', meaning: 'resource filters of dumps and restores' },
  },
  {
    name: 'RS_EXCLUDE_RESOURCES', group: 'selection', parse: resourceNames(RESOURCE_RE), default: [], field: 'selection.excludeResources',
    empty: { give: 'resource names', unset: 'to exclude none' },
    doc: { row: 'RS_INCLUDE_RESOURCES' },
  },
  // container checkpoints (RS_BACKUP_STRATEGY=checkpoint; rules in checkpoint-parsers.ts)
  {
    name: 'RS_CHECKPOINT_TARGETS', group: 'checkpoint', field: 'checkpoint.targets',
    parse: (v) => parseCheckpointTargets(v),
    check: (isSet, earlier) =>
      isCheckpoint(earlier) && !isSet('RS_CHECKPOINT_TARGETS')
        ? 'RS_BACKUP_STRATEGY is checkpoint, but RS_CHECKPOINT_TARGETS is not set: name the containers to checkpoint (namespace/pod/container, * for every pod or container: shop/*, default/web/*)'
        : undefined,
    empty: { give: 'the containers to checkpoint (namespace/pod/container)', unset: 'when RS_BACKUP_STRATEGY is not checkpoint' },
    doc: {
      default: '', example: '`shop/*,default/web/app`',
      meaning: 'containers a `checkpoint` backup takes: `namespace/pod/container`, `*` for every pod or container (`shop/*`, `default/web/*`); never `*` for the namespace',
    },
  },
  {
    name: 'RS_KUBELET_URL', group: 'checkpoint', parse: kubeletUrl, default: 'https://127.0.0.1:10250', field: 'checkpoint.kubelet.url',
    empty: { give: "the kubelet's https URL", unset: 'for https://127.0.0.1:10250' },
    doc: { default: '`https://127.0.0.1:10250`', example: '`https://10.0.0.7:10250`', meaning: "the node's kubelet (https only); `GET /pods` and `POST /checkpoint/...` go there; the DaemonSet gives `https://$(HOST_IP):10250`, which Kubernetes expands from `HOST_IP` set before it (an unexpanded `$(...)`, as an env file passes it, is refused)" },
  },
  {
    name: 'RS_KUBELET_CA_CERT', group: 'checkpoint', parse: localPath, present: plainFile, field: 'checkpoint.kubelet.caCertFile',
    empty: { give: "the file of the CA of the kubelet's serving certificate", unset: "to trust the system's CAs" },
    doc: { default: 'system CAs', example: '`/var/lib/kubelet/pki/kubelet.crt`', meaning: "CA of the kubelet's serving certificate (its self-signed `kubelet.crt` serves, or the cluster CA with `serverTLSBootstrap`)" },
  },
  {
    name: 'RS_KUBELET_CLIENT_CERT', group: 'checkpoint', parse: localPath, present: kubeletKeyFile, field: 'checkpoint.kubelet.clientCertFile',
    empty: { give: "the client certificate's file", unset: 'with RS_KUBELET_CLIENT_KEY for no client certificate' },
    doc: {
      label: '`RS_KUBELET_CLIENT_CERT` / `RS_KUBELET_CLIENT_KEY`', default: '',
      example: '`/etc/kubernetes/pki/apiserver-kubelet-client.crt` / `.key`', meaning: 'a client certificate the kubelet trusts (both or neither); or `RS_KUBELET_TOKEN_FILE`',
    },
  },
  {
    name: 'RS_KUBELET_CLIENT_KEY', group: 'checkpoint', parse: localPath, present: kubeletKeyFile, field: 'checkpoint.kubelet.clientKeyFile', doc: { row: 'RS_KUBELET_CLIENT_CERT' },
    empty: { give: "the client certificate's key file", unset: 'with RS_KUBELET_CLIENT_CERT for no client certificate' },
    check: (isSet) => (isSet('RS_KUBELET_CLIENT_CERT') !== isSet('RS_KUBELET_CLIENT_KEY') ? 'RS_KUBELET_CLIENT_CERT and RS_KUBELET_CLIENT_KEY must be set together' : undefined),
  },
  {
    name: 'RS_KUBELET_TOKEN_FILE', group: 'checkpoint', parse: localPath, present: plainFile, field: 'checkpoint.kubelet.tokenFile',
    check: (isSet, earlier) =>
      isCheckpoint(earlier) && !isSet('RS_KUBELET_CLIENT_CERT') && !isSet('RS_KUBELET_TOKEN_FILE')
        ? 'RS_BACKUP_STRATEGY is checkpoint, but the kubelet would get no credentials: set RS_KUBELET_CLIENT_CERT and RS_KUBELET_CLIENT_KEY, or RS_KUBELET_TOKEN_FILE'
        : undefined,
    empty: { give: "the bearer token's file", unset: 'for no token' },
    doc: {
      default: '', example: '`/var/run/secrets/tokens/kubelet`',
      meaning: 'a bearer token (a projected service account token) allowed `nodes/checkpoint` (create) and `nodes/pods` (get); read at each request',
    },
  },
  {
    name: 'RS_KUBELET_SERVER_NAME', group: 'checkpoint', field: 'checkpoint.kubelet.serverName',
    parse: kubeletServerName,
    empty: { give: "the name the kubelet's certificate shows", unset: "for the URL's host" },
    doc: { default: "the URL's host", example: '`node-1`', meaning: "the name the kubelet's certificate must show (a self-signed one names the node, not its IP); the DaemonSet gives `$(NODE_NAME)`, expanded as `RS_KUBELET_URL`'s `$(HOST_IP)`" },
  },
  {
    name: 'RS_CHECKPOINT_TIMEOUT', group: 'checkpoint', parse: (v) => parseWaitDuration(v) / 1000, default: 120, field: 'checkpoint.timeoutSeconds',
    empty: { means: 'as unset' },
    doc: { default: '`2m`', example: '`10m`', meaning: 'how long the runtime may take to checkpoint one container (more memory takes longer)' },
  },
  {
    name: 'RS_CHECKPOINT_DIR', group: 'checkpoint', default: '/var/lib/kubelet/checkpoints', field: 'checkpoint.dir',
    parse: matching(/^\//, 'is not an absolute path'),
    empty: { give: "the kubelet's checkpoint folder as this process sees it", unset: 'for /var/lib/kubelet/checkpoints' },
    doc: {
      default: '`/var/lib/kubelet/checkpoints`', example: '`/host/checkpoints`',
      meaning: "where this process sees the kubelet's checkpoint folder (a hostPath); the archive the kubelet names is read there by its file name",
    },
  },
  {
    name: 'RS_CHECKPOINT_KEEP_LOCAL', group: 'checkpoint', unset: 'absent', parse: (v) => coerce(v).asBool(), default: false, field: 'checkpoint.keepLocal',
    check: (_isSet, earlier) => {
      const dir = earlier('RS_CHECKPOINT_DIR') as string | undefined;
      // An invalid RS_CHECKPOINT_DIR is reported already.
      return isCheckpoint(earlier) && dir !== undefined ? checkpointDirProblem(dir, earlier('RS_CHECKPOINT_KEEP_LOCAL') === true) : undefined;
    },
    empty: { give: 'true or false', unset: 'for false' },
    doc: { default: '`false`', example: '`true`', meaning: "keep the node's archive once it is stored (by default it is deleted: nothing else cleans it up)" },
  },
  // serving
  {
    name: 'RS_HTTP_PORT', group: 'server', unset: 'absent', parse: intRange(0, 65535, 'port from 0 (disabled) to 65535'), default: 8080, field: 'httpPort',
    empty: { give: 'a port (0 disables HTTP)', unset: 'for 8080' },
    doc: { default: '`8080`', example: '`0`', meaning: 'HTTP port of `run` (`0` disables)' },
  },
  {
    // Set but empty is refused: servers read "" as every interface as often as their default.
    name: 'RS_HTTP_ADDRESS', group: 'server', parse: listenAddress, default: '127.0.0.1', field: 'httpAddress',
    empty: { give: 'an address (0.0.0.0 or :: for every interface)', unset: 'for 127.0.0.1' },
    doc: {
      default: '`127.0.0.1`; `0.0.0.0` in the image', example: '`10.0.0.5`',
      meaning: "address `run` serves HTTP on (`0.0.0.0` or `::`: every interface, as a pod's probes and Prometheus need)",
    },
  },
  {
    // Set but empty is refused: beyond loopback, unset means that no name is checked.
    name: 'RS_HTTP_ALLOWED_HOSTS', group: 'server', parse: hostNames, default: [], field: 'httpAllowedHosts',
    empty: { give: 'host names', unset: 'for no names beyond localhost and IP addresses' },
    doc: {
      default: '', example: '`reshifter.example.com,backup-host`',
      meaning: "more names `run`'s HTTP server answers to (the request's `Host`), besides `localhost` and IP addresses: on loopback other names are refused (`421`, against DNS rebinding); beyond loopback names are checked only when this is set",
    },
  },
  {
    name: 'RS_API_READ_OPEN', group: 'server', unset: 'absent', parse: (v) => coerce(v).asBool(), default: false, field: 'apiReadOpen',
    empty: { give: 'true or false', unset: 'for false' },
    doc: {
      default: '`false`', example: '`true`',
      meaning: "without `RS_API_TOKEN`, beyond loopback: let the API's reads of what the cluster holds (stats, explore, diff, a backup's details) answer anyone (403 otherwise)",
    },
  },
  {
    name: 'RS_PUSHGATEWAY_URL', group: 'metrics', parse: (v) => url(v), field: 'pushgatewayUrl',
    empty: { give: "the Pushgateway's URL", unset: 'to push no metrics' },
    doc: { default: '', example: '`http://pushgateway:9091`', meaning: 'where one-off backups push metrics' },
  },
  {
    name: 'RS_API_TOKEN', group: 'server', secret: true, unset: 'empty', field: 'apiToken',
    present: notPlaceholder('give a token of your own (e.g. openssl rand -hex 32)'),
    parse: (v) => {
      if (v.length < 16) throw new Error('should be at least 16 characters');
      return v;
    },
    empty: { give: 'a token of 16 characters or more', unset: 'for a read-only API' },
    doc: { default: '', example: '', meaning: 'bearer token of the HTTP API, 16 characters or more; without it the API is read-only; the placeholder of `manifests/secret.example.yaml` (`replace-with-...`) is refused' },
  },
  {
    name: 'RS_TMP_DIR', group: 'work area', parse: localPath, present: existingWritableFolder, field: 'workDir',
    empty: { means: 'as unset (as TMPDIR is)' },
    doc: {
      default: "the system's (`TMPDIR`, `/tmp`)", example: '`/var/lib/reshifter/work`',
      meaning: 'work area of stats, inspect, diff, verify and restore of a stored backup: up to 2 × the etcd database size free (see Work area); a backup in a local store is read where it is (only a compressed or encrypted snapshot is decoded here)',
    },
  },
  {
    name: 'LOG_LEVEL', group: 'general', unset: 'absent', parse: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const), default: 'info', field: 'logLevel',
    empty: { give: 'trace, debug, info, warn, error, fatal or silent', unset: 'for info' },
    doc: { default: '`info`', example: '`debug`', meaning: '`trace` … `fatal`, `silent`' },
  },
];
