import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import envVar from 'env-var';
import { isAgeIdentity, isAgeRecipient, parseIdentityFile } from '../archive/age-keys.js';
import { parseDuration } from '../core/duration.js';
import { parseStrategy } from '../core/strategy.js';
import type { Compression, Config, LogLevel, StoreConfig } from './types.js';

export type Env = Record<string, string | undefined>;
export type LoadResult = { config: Config; errors?: undefined } | { config?: undefined; errors: string[] };

// node-cron only checks RS_SCHEDULE, which one-off commands rarely set: required (synchronously) when it is, so
// their start-up does not pay for loading it.
const requireCjs = createRequire(import.meta.url);
const cronValidator = (): typeof import('node-cron').default => requireCjs('node-cron') as typeof import('node-cron').default;

/** Every variable reshifter reads; the README's table lists the same names. */
export const KNOWN_VARIABLES = [
  'RS_ETCD_ENDPOINTS', 'RS_ETCD_ENDPOINT', 'RS_ETCD_CA_CERT', 'RS_ETCD_CLIENT_CERT', 'RS_ETCD_CLIENT_KEY',
  'RS_ETCD_USERNAME', 'RS_ETCD_PASSWORD', 'RS_ETCD_API_VERSION', 'RS_ETCD_TIMEOUT',
  'RS_BACKUP_STRATEGY', 'RS_CLUSTER_NAME', 'RS_BACKUP_DIR',
  'RS_S3_BUCKET', 'RS_S3_ENDPOINT', 'RS_S3_REGION', 'RS_S3_PREFIX', 'RS_S3_FORCE_PATH_STYLE', 'RS_S3_SSE',
  'RS_S3_SSE_KMS_KEY_ID', 'RS_S3_REQUEST_TIMEOUT', 'RS_S3_RETRY_WINDOW', 'ACCESS_KEY_ID', 'SECRET_ACCESS_KEY',
  'RS_COMPRESSION', 'RS_COMPRESSION_LEVEL',
  'RS_ENCRYPTION_RECIPIENTS', 'RS_ENCRYPTION_IDENTITY_FILE', 'RS_ENCRYPTION_IDENTITY', 'RS_ENCRYPTION_PASSPHRASE',
  'RS_SCHEDULE', 'RS_RETENTION_KEEP_LAST', 'RS_RETENTION_KEEP_HOURLY', 'RS_RETENTION_KEEP_DAILY',
  'RS_RETENTION_KEEP_WEEKLY', 'RS_RETENTION_KEEP_MONTHLY', 'RS_RETENTION_MAX_AGE',
  'RS_KUBE_PREFIXES', 'RS_INCLUDE_NAMESPACES', 'RS_EXCLUDE_NAMESPACES', 'RS_INCLUDE_RESOURCES', 'RS_EXCLUDE_RESOURCES',
  'RS_HTTP_PORT', 'RS_PUSHGATEWAY_URL', 'RS_API_TOKEN', 'LOG_LEVEL',
] as const;

/** Variables whose values must never appear in a message. */
export const SECRET_VARIABLES = new Set([
  'RS_ETCD_PASSWORD', 'SECRET_ACCESS_KEY', 'RS_ENCRYPTION_IDENTITY', 'RS_ENCRYPTION_PASSPHRASE', 'RS_API_TOKEN',
]);

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

const LOG_LEVELS: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Reads the configuration from `env` (never from anywhere else). Returns the typed config, or every problem at
 * once, each naming the variable and its bad value: `RS_SCHEDULE was invalid: "every hour" is not a cron expression`.
 */
export function loadConfig(env: Env = process.env): LoadResult {
  const errors: string[] = [];
  const from = envVar.from(env);
  const shown = (name: string) => (SECRET_VARIABLES.has(name) ? '(hidden)' : JSON.stringify(env[name]));

  /** Runs one variable's parse; on failure records `NAME was invalid: "value" reason` and returns undefined. */
  function read<T>(name: string, parse: () => T): T | undefined {
    try {
      return parse();
    } catch (err) {
      const reason = (err instanceof Error ? err.message : String(err)).replace(/^env-var: "[^"]*" /, '');
      errors.push(`${name} was invalid: ${shown(name)} ${reason}`);
      return undefined;
    }
  }
  const str = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const custom = <T>(name: string, parse: (v: string) => T): T | undefined => {
    const v = str(name);
    return v === undefined ? undefined : read(name, () => parse(v));
  };
  const list = (name: string): string[] =>
    (str(name) ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const count = (name: string) => read(name, () => from.get(name).asIntPositive()) ?? undefined;
  const readableFile = (name: string) =>
    custom(name, (path) => {
      try {
        if (!statSync(path).isFile()) throw new Error('is not a file');
        accessSync(path, constants.R_OK);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new Error(code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read' : (err as Error).message);
      }
      return path;
    });
  const url = (value: string, schemes: string[]) => {
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new Error(`has "${value}", which is not a URL`);
    }
    if (!schemes.includes(parsed.protocol.slice(0, -1))) throw new Error(`has "${value}": the scheme must be ${schemes.join(' or ')}`);
    if (parsed.hostname === '') throw new Error(`has "${value}", which names no host`);
    return value.replace(/\/+$/, '');
  };

  // etcd
  const endpointVar = str('RS_ETCD_ENDPOINTS') !== undefined ? 'RS_ETCD_ENDPOINTS' : 'RS_ETCD_ENDPOINT';
  const endpoints =
    custom(endpointVar, () => {
      const items = list(endpointVar);
      if (items.length === 0) throw new Error('names no endpoint');
      // Bare host:port is what etcdctl accepts; it means plain http.
      return items.map((e) => url(/^[a-z]+:\/\//i.test(e) ? e : `http://${e}`, ['http', 'https']));
    }) ?? ['http://127.0.0.1:2379'];
  const caCertFile = readableFile('RS_ETCD_CA_CERT');
  const clientCertFile = readableFile('RS_ETCD_CLIENT_CERT');
  const clientKeyFile = readableFile('RS_ETCD_CLIENT_KEY');
  if ((str('RS_ETCD_CLIENT_CERT') === undefined) !== (str('RS_ETCD_CLIENT_KEY') === undefined)) {
    errors.push('RS_ETCD_CLIENT_CERT and RS_ETCD_CLIENT_KEY must be set together (mutual TLS needs both)');
  }
  const username = str('RS_ETCD_USERNAME');
  const password = env.RS_ETCD_PASSWORD === '' ? undefined : env.RS_ETCD_PASSWORD;
  if ((username === undefined) !== (password === undefined)) {
    errors.push('RS_ETCD_USERNAME and RS_ETCD_PASSWORD must be set together');
  }
  const apiVersion = read('RS_ETCD_API_VERSION', () =>
    from.get('RS_ETCD_API_VERSION').default('auto').asEnum(['auto', 'v2', 'v3'] as const),
  );
  const timeoutMs = custom('RS_ETCD_TIMEOUT', parseDuration) ?? 30_000;

  // what and where
  const strategy = custom('RS_BACKUP_STRATEGY', parseStrategy);
  const cluster =
    custom('RS_CLUSTER_NAME', (v) => {
      if (!NAME_RE.test(v)) throw new Error('should be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit');
      return v;
    }) ?? 'default';
  const bucket = str('RS_S3_BUCKET');
  const s3Endpoint = custom('RS_S3_ENDPOINT', (v) => url(v, ['http', 'https']));
  const region =
    custom('RS_S3_REGION', (v) => {
      if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(v)) throw new Error('is not a region name (lowercase letters, digits and "-", e.g. eu-central-1)');
      return v;
    }) ?? 'us-east-1';
  const prefix =
    custom('RS_S3_PREFIX', (v) => {
      const parts = v.split('/').filter((p) => p.length > 0);
      if (parts.some((p) => p === '.' || p === '..')) throw new Error('must not contain "." or ".." segments');
      return parts.join('/');
    }) ?? '';
  const forcePathStyle = read('RS_S3_FORCE_PATH_STYLE', () =>
    from.get('RS_S3_FORCE_PATH_STYLE').default(s3Endpoint !== undefined ? 'true' : 'false').asBool(),
  );
  const sse = read('RS_S3_SSE', () => from.get('RS_S3_SSE').asEnum(['AES256', 'aws:kms'] as const));
  const sseKmsKeyId = str('RS_S3_SSE_KMS_KEY_ID');
  if (sseKmsKeyId !== undefined && sse !== 'aws:kms') {
    errors.push('RS_S3_SSE_KMS_KEY_ID is set, but RS_S3_SSE is not "aws:kms"');
  }
  const s3RequestTimeoutMs = custom('RS_S3_REQUEST_TIMEOUT', parseDuration) ?? 30_000;
  const s3RetryWindowMs = custom('RS_S3_RETRY_WINDOW', parseDuration) ?? 60_000;
  const accessKeyId = str('ACCESS_KEY_ID');
  const secretAccessKey = env.SECRET_ACCESS_KEY === '' ? undefined : env.SECRET_ACCESS_KEY;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    errors.push('ACCESS_KEY_ID and SECRET_ACCESS_KEY must be set together');
  }
  const backupDir =
    custom('RS_BACKUP_DIR', (path) => {
      // A folder that does not exist yet is created by the first backup; one that exists must be a writable folder.
      let st;
      try {
        st = statSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return path;
        throw new Error(`cannot be used (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      if (!st.isDirectory()) throw new Error('is not a directory');
      try {
        accessSync(path, constants.W_OK | constants.X_OK);
      } catch {
        throw new Error('cannot be written');
      }
      return path;
    }) ?? './backups';
  let store: StoreConfig;
  if (bucket !== undefined) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      errors.push(`RS_S3_BUCKET was invalid: ${JSON.stringify(bucket)} is not an S3 bucket name (3-63 lowercase letters, digits, "." and "-")`);
    }
    store = {
      kind: 's3', bucket, region, prefix, forcePathStyle: forcePathStyle ?? false,
      requestTimeoutMs: s3RequestTimeoutMs, retryWindowMs: s3RetryWindowMs,
      ...(s3Endpoint !== undefined && { endpoint: s3Endpoint }),
      ...(accessKeyId !== undefined && secretAccessKey !== undefined && { accessKeyId, secretAccessKey }),
      ...(sse !== undefined && { sse }),
      ...(sseKmsKeyId !== undefined && { sseKmsKeyId }),
    };
  } else {
    store = { kind: 'local', dir: backupDir };
  }

  // codec
  const compression = read('RS_COMPRESSION', () =>
    from.get('RS_COMPRESSION').default('zstd').asEnum(['zstd', 'gzip', 'none'] as const),
  );
  const compressionLevel = read('RS_COMPRESSION_LEVEL', () => {
    const levels = COMPRESSION_LEVELS[compression ?? 'zstd'];
    const n = from.get('RS_COMPRESSION_LEVEL').default(String(levels.default)).asInt();
    if (n < levels.min || n > levels.max) throw new Error(`should be a ${levels.name}`);
    return n;
  });
  const recipients =
    custom('RS_ENCRYPTION_RECIPIENTS', () => {
      const keys = list('RS_ENCRYPTION_RECIPIENTS');
      const bad = keys.find((k) => !isAgeRecipient(k));
      if (bad !== undefined) throw new Error(`has "${bad}", which is not an age X25519 public key (age1...)`);
      return keys;
    }) ?? [];
  const identityFile = readableFile('RS_ENCRYPTION_IDENTITY_FILE');
  if (identityFile !== undefined) {
    // A readable file that holds no usable key is as wrong as a missing one; the message never quotes a line.
    read('RS_ENCRYPTION_IDENTITY_FILE', () => parseIdentityFile(readFileSync(identityFile, 'utf8')));
  }
  const identity = custom('RS_ENCRYPTION_IDENTITY', (v) => {
    if (!isAgeIdentity(v)) throw new Error('is not an age secret key (AGE-SECRET-KEY-1...)');
    return v;
  });
  const passphrase = env.RS_ENCRYPTION_PASSPHRASE === '' ? undefined : env.RS_ENCRYPTION_PASSPHRASE;
  if (passphrase !== undefined && recipients.length > 0) {
    errors.push('RS_ENCRYPTION_PASSPHRASE and RS_ENCRYPTION_RECIPIENTS cannot both be set: age encrypts to one or the other');
  }

  // schedule and retention
  const schedule = custom('RS_SCHEDULE', (v) => {
    const result = cronValidator().validateDetailed(v);
    if (!result.valid) {
      const why = result.errors.map((e) => e.message).join('; ');
      throw new Error(`is not a cron expression${why ? ` (${why})` : ''}`);
    }
    return v;
  });
  const keepLast = count('RS_RETENTION_KEEP_LAST');
  const keepHourly = count('RS_RETENTION_KEEP_HOURLY');
  const keepDaily = count('RS_RETENTION_KEEP_DAILY');
  const keepWeekly = count('RS_RETENTION_KEEP_WEEKLY');
  const keepMonthly = count('RS_RETENTION_KEEP_MONTHLY');
  const maxAgeMs = custom('RS_RETENTION_MAX_AGE', parseDuration);

  // Kubernetes selection
  const prefixes =
    custom('RS_KUBE_PREFIXES', () => {
      const items = list('RS_KUBE_PREFIXES');
      const bad = items.find((p) => !p.startsWith('/'));
      if (bad !== undefined) throw new Error(`has "${bad}": prefixes start with "/" (e.g. /registry)`);
      return items.map((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p));
    }) ?? [];
  const names = (name: string, re: RegExp, what: string) =>
    custom(name, () => {
      const items = list(name);
      const bad = items.find((i) => !re.test(i));
      if (bad !== undefined) throw new Error(`has "${bad}", which is not a ${what}`);
      return items;
    }) ?? [];
  const nsRe = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
  const resRe = /^[a-z0-9][a-z0-9.-]*$/;
  const includeNamespaces = names('RS_INCLUDE_NAMESPACES', nsRe, 'namespace name');
  const excludeNamespaces = names('RS_EXCLUDE_NAMESPACES', nsRe, 'namespace name');
  const includeResources = names('RS_INCLUDE_RESOURCES', resRe, 'resource name');
  const excludeResources = names('RS_EXCLUDE_RESOURCES', resRe, 'resource name');

  // serving
  const httpPort = read('RS_HTTP_PORT', () => {
    const n = from.get('RS_HTTP_PORT').default('8080').asInt();
    if (n < 0 || n > 65535) throw new Error('should be a port from 0 (disabled) to 65535');
    return n;
  });
  const pushgatewayUrl = custom('RS_PUSHGATEWAY_URL', (v) => url(v, ['http', 'https']));
  const apiToken = env.RS_API_TOKEN === '' ? undefined : env.RS_API_TOKEN;
  if (apiToken !== undefined && apiToken.length < 16) {
    errors.push('RS_API_TOKEN was invalid: (hidden) should be at least 16 characters');
  }
  const logLevel = read('LOG_LEVEL', () => from.get('LOG_LEVEL').default('info').asEnum(LOG_LEVELS));

  // A misspelt variable would otherwise be ignored without a word (RS_RETENTION_KEEP_LST=7 keeping everything).
  for (const name of Object.keys(env)) {
    if (!name.startsWith('RS_') || (KNOWN_VARIABLES as readonly string[]).includes(name)) continue;
    const near = closest(name, KNOWN_VARIABLES);
    errors.push(`${name} is not a reshifter variable${near !== undefined ? ` (did you mean ${near}?)` : ''}`);
  }

  if (errors.length > 0) return { errors };
  return {
    config: {
      etcd: {
        endpoints,
        apiVersion: apiVersion!,
        timeoutMs,
        ...(caCertFile !== undefined && { caCertFile }),
        ...(clientCertFile !== undefined && { clientCertFile }),
        ...(clientKeyFile !== undefined && { clientKeyFile }),
        ...(username !== undefined && password !== undefined && { username, password }),
      },
      ...(strategy !== undefined && { strategy }),
      cluster,
      store,
      compression: compression!,
      compressionLevel: compressionLevel!,
      encryption: {
        recipients,
        ...(identityFile !== undefined && { identityFile }),
        ...(identity !== undefined && { identity }),
        ...(passphrase !== undefined && { passphrase }),
      },
      ...(schedule !== undefined && { schedule }),
      retention: {
        ...(keepLast !== undefined && { keepLast }),
        ...(keepHourly !== undefined && { keepHourly }),
        ...(keepDaily !== undefined && { keepDaily }),
        ...(keepWeekly !== undefined && { keepWeekly }),
        ...(keepMonthly !== undefined && { keepMonthly }),
        ...(maxAgeMs !== undefined && { maxAgeMs }),
      },
      selection: { prefixes, includeNamespaces, excludeNamespaces, includeResources, excludeResources },
      httpPort: httpPort!,
      ...(pushgatewayUrl !== undefined && { pushgatewayUrl }),
      ...(apiToken !== undefined && { apiToken }),
      logLevel: logLevel!,
    },
  };
}

/** The known name nearest to `name` (edit distance at most 3), for "did you mean". */
function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
