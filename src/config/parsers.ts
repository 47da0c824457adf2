import { isIP } from 'node:net';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import envVar from 'env-var';
import { MAX_RECIPIENTS, isAgeIdentity, isAgeRecipient, parseIdentityFile } from '../archive/age-keys.js';
import { kubectlNameProblem } from '../kube/kubectl-names.js';
import { modeAndOwnerOf } from '../core/unreachable-path.js';
import { uncreatableFolder, unwritableFolder, whoAndMode } from '../core/writable-path.js';

// The value parsers of the configuration table (variables.ts). Each takes a variable's value and returns what the
// Config holds, or throws an Error whose message completes `NAME was invalid: "value" ...`.

// node-cron only checks RS_SCHEDULE, which one-off commands rarely set: required (synchronously) when it is, so
// their start-up does not pay for loading it.
const requireCjs = createRequire(import.meta.url);
const cronValidator = (): typeof import('node-cron').default => requireCjs('node-cron') as typeof import('node-cron').default;

/**
 * env-var's coercions (`asEnum`, `asBool`, `asInt`...) of one value; its messages say what was expected. (`default`
 * only types the accessor as holding a value: the value is there.)
 */
export const coerce = (value: string) => envVar.from({ value }).get('value').default(value);

/** The comma-separated items of a value, trimmed, empty ones dropped. */
export function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** A value that must match `re`, refused with `why`. */
export const matching = (re: RegExp, why: string) => (value: string): string => {
  if (!re.test(value)) throw new Error(why);
  return value;
};

/** Items that must each match `re`: the first that does not is named as not a `what`. */
export const namesOf = (re: RegExp, what: string) => (value: string): string[] => {
  const items = list(value);
  const bad = items.find((i) => !re.test(i));
  if (bad !== undefined) throw new Error(`has "${bad}", which is not a ${what}`);
  return items;
};

/** Resource names of a filter: names etcd could store, never kubectl's singular or short ones (`configmap`, `cm`). */
export const resourceNames = (re: RegExp) => (value: string): string[] => {
  const items = namesOf(re, 'resource name')(value);
  const problem = kubectlNameProblem(items);
  if (problem !== undefined) throw new Error(problem);
  return items;
};

/**
 * A path as the file system takes it. `~` and `$HOME` are expanded by a shell only: systemd's EnvironmentFile, `docker
 * --env-file` and a pod's env pass them on as they are, so `RS_BACKUP_DIR=~/backups` would make a folder named `~`
 * in the working directory (`/~/backups` under systemd) and put the backups there.
 */
export function localPath(value: string): string {
  if (value.startsWith('~')) throw new Error('starts with "~", which only a shell expands (systemd\'s EnvironmentFile, docker --env-file and a pod\'s env do not): give the full path');
  const variable = /\$(\{?)([A-Za-z_][A-Za-z0-9_]*)\}?/.exec(value);
  if (variable) throw new Error(`holds "${variable[0]}", which only a shell expands (systemd's EnvironmentFile, docker --env-file and a pod's env do not): give the full path`);
  return value;
}

/**
 * What a file read by path is, for the advice given when this user may not read it: the etcd keys of k3s and kubeadm
 * are root's (0600); an age identity file is one's own secret, never a cluster's key.
 */
export type FileKind = 'etcd key' | 'kubelet client key' | 'age identity' | 'file';

/** What to do when this user (`who`) may not read a file of this kind. */
function readFix(kind: FileKind, who: string): string {
  switch (kind) {
    case 'etcd key':
      return `run reshifter as its owner (root for the etcd keys of k3s and kubeadm, which are 0600) or give ${who} read access`;
    case 'kubelet client key':
      return `run reshifter as its owner (root for the kubelet client keys of k3s and kubeadm, which are 0600) or give ${who} read access`;
    case 'age identity':
      return `make the age identity file readable by the user reshifter runs as (chown it to ${who}, keeping mode 0600: it decrypts every backup), or run reshifter as its owner`;
    case 'file':
      return `run reshifter as its owner or give ${who} read access`;
  }
}

/** A file that exists and can be read; `kind` says what it is, for the advice when this user may not read it. */
export function readableFile(path: string, kind: FileKind = 'file'): string {
  try {
    if (!statSync(path).isFile()) throw new Error('is not a file');
    accessSync(path, constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? `cannot be read ${whyUnreadable(path, kind)}` : (err as Error).message);
  }
  return path;
}

/** `readableFile` of any other file (a CA certificate, a token). */
export const plainFile = (path: string): string => readableFile(path);
/** `readableFile` of an etcd certificate or key. */
export const etcdKeyFile = (path: string): string => readableFile(path, 'etcd key');
/** `readableFile` of a kubelet client certificate or key. */
export const kubeletKeyFile = (path: string): string => readableFile(path, 'kubelet client key');

/** `mode 0600, owner uid 0`, as ls shows the mode. */
function modeOf(path: string): string {
  return modeAndOwnerOf(statSync(path));
}

/**
 * Why this process may not read `path`: the file's mode and owner, or the folder on its way that this user may not
 * enter (k3s keeps its certificates under /var/lib/rancher/k3s/server, 0700 root), and what to do.
 */
function whyUnreadable(path: string, kind: FileKind): string {
  const uid = process.getuid?.();
  const who = uid === undefined ? 'this user' : `uid ${uid}`;
  const fix = readFix(kind, who);
  const parts = path.split('/');
  for (let i = 0; i < parts.length - 1; i++) {
    const folder = parts.slice(0, i + 1).join('/') || '/';
    try {
      accessSync(folder, constants.X_OK);
    } catch {
      const mode = (() => {
        try {
          return ` (${modeOf(folder)})`;
        } catch {
          return '';
        }
      })();
      return `by ${who}: the folder ${folder}${mode} cannot be entered; ${fix}`;
    }
  }
  try {
    return `by ${who}: the file is ${modeOf(path)}; ${fix}`;
  } catch {
    return `by ${who}; ${fix}`;
  }
}

/** An address to listen on: an IPv4 or IPv6 address (`0.0.0.0` and `::` are every interface), or `localhost`. */
export function listenAddress(value: string): string {
  const a = value.replace(/^\[(.*)\]$/, '$1');
  if (a !== 'localhost' && isIP(a) === 0) throw new Error('is not an address to listen on (an IP address such as 127.0.0.1, 0.0.0.0 or ::, or localhost)');
  return a;
}

/**
 * Refuses a secret still set to the placeholder of manifests/secret.example.yaml (`replace-with-...`): a copy applied
 * unedited would protect the API or the backups with a value anyone can read in the repository. `instead` says what to do.
 */
export function notPlaceholder(instead: string): (value: string) => void {
  return (value) => {
    if (/^replace-with-/i.test(value.trim())) throw new Error(`is still the placeholder of manifests/secret.example.yaml ("replace-with-..."), which anyone can read: ${instead}`);
  };
}

/** A folder that exists and can be written (a work area: reshifter does not create it). */
export function existingWritableFolder(path: string): string {
  try {
    if (!statSync(path).isDirectory()) throw new Error('is not a directory');
    accessSync(path, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EROFS') throw new Error(unwritableFolder(path) ?? 'cannot be written');
    throw new Error(code === 'ENOENT' ? 'does not exist' : (err as Error).message);
  }
  return path;
}

/**
 * A folder that exists and can be written, or one the first backup can create: the nearest folder above it that
 * exists can be written (a non-root pod whose RS_BACKUP_DIR is under a root-owned folder, or on a read-only root file
 * system, would otherwise take its snapshot of etcd before failing to write it).
 */
export function writableFolder(path: string): string {
  folderUnlessAbsent(path, constants.W_OK | constants.X_OK, 'written');
  const why = uncreatableFolder(path);
  if (why !== undefined) throw new Error(`does not exist and cannot be created: ${why}`);
  return path;
}

/** A folder that does not exist (nothing to read yet), or one that exists and can be read: a store mounted read-only. */
export function readableFolder(path: string): string {
  return folderUnlessAbsent(path, constants.R_OK | constants.X_OK, 'read');
}

/** `path` when it does not exist, or is a folder this process may use with `mode`; else why not ("cannot be <verb>"). */
function folderUnlessAbsent(path: string, mode: number, verb: string): string {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return path;
    throw new Error(`cannot be used (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!st.isDirectory()) throw new Error('is not a directory');
  try {
    accessSync(path, mode);
  } catch (err) {
    throw new Error((err as NodeJS.ErrnoException).code === 'EROFS' ? `cannot be ${verb}: its file system is read-only` : `cannot be ${verb} ${whoAndMode(path)}`);
  }
  return path;
}

/**
 * A URL with one of `schemes` and a host, without trailing slashes. Its errors continue the quoted value
 * (`"minio:9000" has no scheme: give http://minio:9000 or https://minio:9000`).
 */
export function url(value: string, schemes: readonly string[] = ['http', 'https']): string {
  const either = schemes.join(' or ');
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new Error(`has no scheme: give ${schemes.map((s) => `${s}://${value}`).join(' or ')}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new Error(`is not a URL (a scheme, host and port, like ${schemes[0]}://10.0.0.9:9000)`);
  }
  const scheme = parsed.protocol.slice(0, -1);
  if (!schemes.includes(scheme)) throw new Error(`has the scheme ${scheme}: it must be ${either}`);
  if (parsed.hostname === '') throw new Error('names no host');
  return value.replace(/\/+$/, '');
}

/**
 * etcd endpoints: URLs, or bare host:port as etcdctl accepts them, taken with `bareScheme`: plain http, or https when
 * TLS files are given (load-config.ts), as etcdctl does.
 */
export function endpoints(value: string, bareScheme: 'http' | 'https' = 'http'): string[] {
  const items = list(value);
  if (items.length === 0) throw new Error("names no endpoint: give etcd's client URLs (like https://10.0.0.5:2379), or leave it unset for http://127.0.0.1:2379");
  return items.map((e) => {
    // etcd's own flags and etcdctl take commas; a space-separated list of endpoints (a shell array's) is one bad URL.
    const parts = e.split(/\s+/);
    if (parts.length > 1 && parts.every((p) => /^[a-z]+:\/\/\S+$|^\S+:\d+$/i.test(p))) {
      throw new Error(`has "${e}", which holds a space: separate endpoints with commas (${parts.join(',')})`);
    }
    let u: string;
    try {
      u = url(/^[a-z]+:\/\//i.test(e) ? e : `${bareScheme}://${e}`);
    } catch (err) {
      throw new Error(`has "${e}", which ${(err as Error).message}`);
    }
    // etcd takes no credentials in its URL (gRPC would send the text as a host name, and errors would print it).
    const parsed = withoutCredentials(u, 'a URL: give them as RS_ETCD_USERNAME and RS_ETCD_PASSWORD');
    if ((parsed.pathname !== '/' && parsed.pathname !== '') || parsed.search !== '' || parsed.hash !== '') {
      throw new Error(`has "${e}": an etcd endpoint is a scheme, host and port only (like https://10.0.0.5:2379), without a path`);
    }
    // Without a port gRPC dials 443, even for http:// (etcdctl refuses it: "missing port in address"). An https:// URL
    // without one is port 443 as URLs say (etcd behind a load balancer).
    if (!/:\d+$/.test(u) && !/^https:\/\//i.test(e)) {
      throw new Error(`has "${e}", which has no port: etcd's client port is usually 2379 (${u}:2379)`);
    }
    return u;
  });
}

/** Key prefixes: each starts with `/`; trailing slashes dropped (but `/` itself, every key, stays). */
export function prefixes(value: string): string[] {
  const items = list(value);
  const bad = items.find((p) => !p.startsWith('/'));
  if (bad !== undefined) throw new Error(`has "${bad}": prefixes start with "/" (e.g. /registry)`);
  return items.map((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p));
}

/**
 * RS_S3_ENDPOINT: the server's URL, without credentials. The S3 client never takes them from the URL (the request
 * would go out unsigned, or signed with other keys), so a user:password there is a mistake to name, not to carry.
 */
export function s3Endpoint(value: string): string {
  const u = url(value);
  withoutCredentials(u, 'the URL, which S3 clients do not read: give them as ACCESS_KEY_ID and SECRET_ACCESS_KEY');
  return u;
}

/** The URL `u` (valid: url() took it), parsed; refused when it holds a user name or password: 'has ... in <where>'. */
function withoutCredentials(u: string, where: string): URL {
  const parsed = new URL(u);
  if (parsed.username !== '' || parsed.password !== '') throw new Error(`has a user name or password in ${where}`);
  return parsed;
}

/**
 * An S3 bucket's name. `s3://etcd-backups/prod` (as `aws s3 ls` takes it) and `etcd-backups/prod` name the bucket and
 * a folder in one: said with the two variables to set, rather than "is not an S3 bucket name".
 */
export function bucketName(value: string): string {
  const url = /^s3:\/\/([^/]*)\/*(.*)$/i.exec(value.trim());
  const slash = value.indexOf('/');
  if (url !== null || slash > 0) {
    const [bucket, rest] = url !== null ? [url[1]!, url[2]!] : [value.slice(0, slash).trim(), value.slice(slash + 1)];
    const folder = bucketFolder(rest);
    const inside = folder === '' ? '' : `, and the folder inside it as RS_S3_PREFIX (${JSON.stringify(folder)})`;
    throw new Error(`${url !== null ? 'is an S3 URL' : 'holds a folder'}: give the bucket alone (${JSON.stringify(bucket)})${inside}`);
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value)) throw new Error('is not an S3 bucket name (3-63 lowercase letters, digits, "." and "-")');
  return value;
}

/** A folder inside a bucket: no `.` or `..` segments, no leading, trailing or doubled `/`. */
export function bucketFolder(value: string): string {
  // `s3://etcd-backups/prod`, as `aws s3 ls` takes it, would store every backup under a folder named `s3:`.
  const s3 = /^s3:\/\/[^/]+\/*(.*)$/i.exec(value.trim());
  if (s3) {
    const folder = bucketFolder(s3[1]!);
    throw new Error(`is an S3 URL: give the folder inside the bucket alone (${folder === '' ? 'none here: unset it' : JSON.stringify(folder)}), and the bucket as RS_S3_BUCKET${earlierFolder(value)}`);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) throw new Error(`is a URL: give the folder inside the bucket alone (like clusters/prod); a server's address goes in RS_S3_ENDPOINT${earlierFolder(value)}`);
  const parts = value.split('/').filter((p) => p.length > 0);
  if (parts.some((p) => p === '.' || p === '..')) throw new Error('must not contain "." or ".." segments');
  const folder = parts.join('/');
  // Found at the first upload otherwise: S3 refuses the key (KeyTooLongError), or a server on a file system fails it.
  const bytes = Buffer.byteLength(folder);
  if (bytes > MAX_S3_FOLDER_BYTES) {
    throw new Error(`is ${bytes} bytes long: S3 keys are at most 1024 bytes, and every backup's key adds the cluster's folder and a file name (up to ${1024 - MAX_S3_FOLDER_BYTES} bytes): give a folder of at most ${MAX_S3_FOLDER_BYTES} bytes`);
  }
  return folder;
}

/**
 * Where earlier versions of reshifter stored the backups of an RS_S3_PREFIX that is a URL, which they took as a folder
 * (`s3://etcd-backups/prod` as `s3:/etcd-backups/prod`): an operator who upgrades with the value that served for months
 * was told only to give `prod`, where none of those backups are. Said with the value that reads them.
 */
function earlierFolder(value: string): string {
  const parts = value.split('/').filter((p) => p.length > 0);
  if (parts.some((p) => p === '.' || p === '..')) return '';
  const folder = parts.join('/');
  return `. Earlier versions of reshifter took it as the folder ${JSON.stringify(folder)} and stored backups there: RS_S3_PREFIX=${JSON.stringify(folder)} reads them`;
}

/** The longest RS_S3_PREFIX: S3's 1024-byte keys less `/`, a cluster's name (63), `/` and a backup's file name (64). */
const MAX_S3_FOLDER_BYTES = 1024 - 1 - 63 - 1 - 64;

/**
 * age X25519 public keys, separated by commas, spaces or lines; `#` starts a comment line. So the text of an age
 * recipients file (`age -R`: one key per line, comments) works as it is, as from `$(cat recipients.txt)` or a
 * ConfigMap made from the file.
 */
export function ageRecipients(value: string): string[] {
  const lines = value.split(/\r?\n/).filter((line) => !line.trim().startsWith('#'));
  if (lines.some((line) => /AGE-SECRET-KEY-/i.test(line))) {
    throw new Error('holds an age secret key (AGE-SECRET-KEY-1...), where public keys (age1...) go: give its public key (age-keygen -y KEYFILE prints it), and keep the secret key for restores (RS_ENCRYPTION_IDENTITY_FILE)');
  }
  // An SSH key is one entry with spaces ("ssh-ed25519 AAAA... user@host"): named whole, not word by word.
  const ssh = lines.flatMap((line) => line.split(',')).map((k) => k.trim()).find((k) => /^(ssh-|ecdsa-)/.test(k));
  if (ssh !== undefined) throw new Error(`has "${ssh}", which is not an age X25519 public key (age1...): reshifter encrypts to age keys only, not SSH keys`);
  const keys = lines.flatMap((line) => line.split(/[\s,]+/)).filter((k) => k.length > 0);
  const bad = keys.find((k) => !isAgeRecipient(k));
  // age -R takes a file; this variable takes what the file holds.
  if (bad !== undefined && looksLikePath(bad)) {
    throw new Error(`has "${bad}", a file's path, where age X25519 public keys (age1...) go: give the keys themselves (the recipients file's text, as a ConfigMap made with --from-file holds it)`);
  }
  if (bad !== undefined) throw new Error(`has "${bad}", which is not an age X25519 public key (age1...)`);
  // Written, such a backup would be unreadable: its manifest (and the age header) hold at most MAX_RECIPIENTS.
  if (keys.length > MAX_RECIPIENTS) throw new Error(`has ${keys.length} public keys; a backup can be encrypted to at most ${MAX_RECIPIENTS}: encrypt to fewer`);
  return keys;
}

/** `/keys/age.txt`, `./recipients.txt`: what age's -R and -i take, given where the keys themselves go. */
function looksLikePath(value: string): boolean {
  return /^\.{0,2}\/\S*$/.test(value);
}

/** A readable file that holds at least one age identity; the message never quotes a line of it. */
export function ageIdentityFile(path: string): string {
  readableFile(path, 'age identity');
  parseIdentityFile(readFileSync(path, 'utf8'));
  return path;
}

/**
 * age secret keys: one key, or the text of an identity file as age-keygen writes it (`# created: ...` comments, one
 * key a line), as a Secret made with `--from-file` holds it. The message never quotes the value.
 */
export const ageIdentity = (value: string): string[] => {
  const single = value.trim();
  if (isAgeIdentity(single)) return [single];
  // age -i takes a file; so does RS_ENCRYPTION_IDENTITY_FILE.
  if (looksLikePath(single)) throw new Error('is a file\'s path, not an age secret key (AGE-SECRET-KEY-1...): set RS_ENCRYPTION_IDENTITY_FILE to it instead');
  if (!/[\r\n]/.test(single)) throw new Error('is not an age secret key (AGE-SECRET-KEY-1...)');
  return parseIdentityFile(value);
};

/** A cron expression node-cron accepts (5 fields, or 6 with seconds). */
export function cronExpression(value: string): string {
  // cron's and older Kubernetes CronJobs' way of naming the zone inside the schedule; here the zone is TZ.
  const zone = /^\s*(CRON_TZ|TZ)=(\S*)\s+(.*)$/.exec(value);
  if (zone) throw new Error(`names its time zone with ${zone[1]}=, which reshifter does not read: set TZ=${zone[2]} and RS_SCHEDULE to the expression alone ("${zone[3]}")`);
  const result = cronValidator().validateDetailed(value);
  if (!result.valid) {
    const why = result.errors.map((e) => e.message).join('; ');
    throw new Error(`is not a cron expression${why ? ` (${why})` : ''}`);
  }
  return value;
}

/** A whole number from `min` to `max`, refused as "should be a `what`". */
export const intRange = (min: number, max: number, what: string) => (value: string): number => {
  const n = coerce(value).asInt();
  if (n < min || n > max) throw new Error(`should be a ${what}`);
  return n;
};
