import { isAbsolute, resolve } from 'node:path';
import { suggest } from '../core/suggest.js';
import { TOOL_SECRETS, TOOL_VARIABLES } from './tool-variables.js';
import { endpoints } from './parsers.js';
import type { Config, StoreConfig } from './types.js';
import { VARIABLES, type Variable, type VariableGroup } from './variables.js';
import { etcdctlWarnings, keyFileWarnings, repeatedEndpoints, type ConfigWarning } from './warnings.js';

export type Env = Record<string, string | undefined>;
/**
 * The config, the etcdctl variables read in place of reshifter's (ETCDCTL_CACERT for RS_ETCD_CA_CERT, ...), and what
 * to warn of once at start-up (an etcdctl variable reshifter does not read, a private key others can read).
 */
export type LoadResult =
  | { config: Config; etcdctl: string[]; warnings: ConfigWarning[]; errors?: undefined }
  | { config?: undefined; etcdctl?: undefined; warnings?: undefined; errors: string[] };

export interface LoadOptions {
  /**
   * The groups of variables the command uses (cli.ts): only their `present` checks run (does the CA file exist, can
   * RS_BACKUP_DIR be written). Every variable's syntax is checked whatever the command. Default: every group.
   */
  groups?: ReadonlySet<VariableGroup>;
}

/** Every variable reshifter reads (older names included): any other `RS_` variable is refused as a likely typo. */
export const KNOWN_VARIABLES: readonly string[] = VARIABLES.flatMap((v) => (v.alias !== undefined ? [v.name, v.alias] : [v.name]));

/** Variables whose values must never appear in a message. */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(VARIABLES.filter((v) => v.secret).map((v) => v.name));

/** Fields of the S3 store: kept only when RS_S3_BUCKET selects it. */
const S3_FIELDS = ['bucket', 'endpoint', 'caCertFile', 'region', 'prefix', 'forcePathStyle', 'requestTimeoutMs', 'retryWindowMs', 'accessKeyId', 'secretAccessKey', 'sse', 'sseKmsKeyId'];

/**
 * Reads the configuration from `env` (never from anywhere else), variable by variable as variables.ts declares them.
 * Returns the typed config, or every problem at once, each naming the variable and its bad value:
 * `RS_SCHEDULE was invalid: "every hour" is not a cron expression`, `RS_SCHEDULE is set but empty: give ...`.
 */
export function loadConfig(env: Env = process.env, opts: LoadOptions = {}): LoadResult {
  const errors: string[] = [];
  const values = new Map<string, unknown>();
  const earlier = (name: string) => values.get(name);
  const groups: ReadonlySet<VariableGroup> = opts.groups ?? new Set(VARIABLES.map((v) => v.group));
  // A rule across variables that asks whether one refused as set but empty is set cannot be judged: that variable is
  // named once, for being empty, not again as "must be set together" or "is not set".
  const emptyRefused = new Set(VARIABLES.filter((v) => refusedEmpty(env, v)).map((v) => v.name));
  let undecided = false;
  const isSet = (name: string) => {
    if (emptyRefused.has(name)) undecided = true;
    return source(env, VARIABLES.find((v) => v.name === name)!) !== undefined;
  };
  // Variables set by another tool's name: a rule broken across variables names both (`RS_ETCD_USERNAME (here ETCDCTL_USER)`).
  const borrowed = new Map<string, string>();
  for (const v of VARIABLES) {
    const checkPresent = groups.has(v.group);
    const from = source(env, v);
    if (from !== undefined && from.name !== v.name && from.name !== v.alias) borrowed.set(v.name, from.name);
    const value = readVariable(env, v, from, { earlier, isSet }, errors, checkPresent ? groups : undefined);
    if (value !== undefined) values.set(v.name, value);
    undecided = false;
    const broken = v.check?.(isSet, earlier);
    if (broken !== undefined && !undecided) errors.push([...borrowed].reduce((m, [rs, ctl]) => m.replace(new RegExp(`\\b${rs}\\b`), `${rs} (here ${ctl})`), broken));
  }
  errors.push(...unknownVariables(env));
  if (errors.length > 0) return { errors };
  const config = assemble(values);
  // A bare host:port is https when TLS files are given, as etcdctl takes `--endpoints 127.0.0.1:2379 --cacert ca.crt`;
  // so is the default endpoint (etcdctl's is the bare 127.0.0.1:2379: `etcdctl --cacert ... member list` on kubeadm).
  const endpointsVariable = VARIABLES.find((v) => v.name === 'RS_ETCD_ENDPOINTS')!;
  const endpointsFrom = source(env, endpointsVariable);
  if (config.etcd.caCertFile !== undefined || config.etcd.clientCertFile !== undefined) {
    config.etcd.endpoints = endpoints(endpointsFrom?.value ?? '127.0.0.1:2379', 'https');
  }
  // `ETCDCTL_ENDPOINTS="A, A"`: each endpoint is dialled once, and the repeat is said.
  const repeated = repeatedEndpoints(config, endpointsFrom?.name ?? 'RS_ETCD_ENDPOINTS');
  const etcdctl = [...borrowed].filter(([, ctl]) => ctl.startsWith('ETCDCTL_'));
  const readFrom = etcdctl.map(([rs, ctl]) => [VARIABLES.find((v) => v.name === rs)!.field.replace(/^etcd\./, ''), ctl]);
  // Endpoints given by the older name (RS_ETCD_ENDPOINT): messages name it, as they name an etcdctl variable.
  if (endpointsFrom !== undefined && endpointsFrom.name === endpointsVariable.alias) readFrom.push(['endpoints', endpointsFrom.name]);
  if (readFrom.length > 0) config.etcd.readFrom = Object.fromEntries(readFrom);
  const storeFrom = [...borrowed].filter(([rs]) => rs.startsWith('RS_S3_')).map(([rs, aws]) => [VARIABLES.find((v) => v.name === rs)!.field.replace(/^store\./, ''), aws]);
  if (config.store.kind === 's3' && storeFrom.length > 0) config.store.readFrom = Object.fromEntries(storeFrom);
  // etcdctl's variables that reshifter does not read are named, never skipped without a word (ETCDCTL_DIAL_TIMEOUT).
  const warnings = [...(groups.has('etcd') ? [...etcdctlWarnings(env), ...repeated] : []), ...keyFileWarnings(config, groups)];
  return { config, etcdctl: [...new Set(etcdctl.map(([, ctl]) => ctl))], warnings };
}

/** A variable's value as it counts as set (see Variable.unset), or undefined. */
function setValue(env: Env, v: Variable, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  // Set, and refused by readVariable: where empty has no meaning of its own it must not pass for unset.
  if ('give' in v.empty && raw.trim() === '') return raw;
  if (v.unset === 'absent') return raw;
  if (v.unset === 'empty') return raw === '' ? undefined : raw;
  return raw.trim() === '' ? undefined : raw.trim();
}

/**
 * Where a variable's value is read from: its name; else its older name; else another tool's variable for it (see
 * tool-variables.ts; a blank one counts as not set: it is not ours to judge). Errors name the one read.
 */
function source(env: Env, v: Variable): { name: string; value: string } | undefined {
  for (const name of v.alias !== undefined ? [v.name, v.alias] : [v.name]) {
    const value = setValue(env, v, name);
    if (value !== undefined) return { name, value };
  }
  for (const e of TOOL_VARIABLES[v.name] ?? []) {
    const raw = env[e.name];
    if (raw === undefined || raw.trim() === '') continue;
    const value = e.pick ? e.pick(raw) : v.secret ? raw : raw.trim();
    if (value !== undefined) return { name: e.name, value };
  }
  return undefined;
}

/**
 * One variable's value, read `from` where source() found it: parsed (and, with `checkPresent`, the groups of the
 * command, what it names checked), or its default when not set; on a bad value records why and returns undefined.
 */
function readVariable(
  env: Env,
  v: Variable,
  from: { name: string; value: string } | undefined,
  read: { earlier: (name: string) => unknown; isSet: (name: string) => boolean },
  errors: string[],
  checkPresent: ReadonlySet<VariableGroup> | undefined,
): unknown {
  const { earlier } = read;
  if (from === undefined) return defaultValue(v, read, errors, checkPresent);
  const { name, value } = from;
  if ('give' in v.empty && value.trim() === '') {
    const { give, unset } = v.empty;
    errors.push(`${name} is set but empty: give ${give}, or unset it ${unset}`);
    return undefined;
  }
  try {
    const parsed = v.parse ? v.parse(value, earlier) : value;
    if (checkPresent) v.present?.(value, checkPresent, read.isSet);
    return parsed;
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).replace(/^env-var: "[^"]*" /, '');
    errors.push(`${name} was invalid: ${v.secret || TOOL_SECRETS.has(name) ? '(hidden)' : shownValue(redactSecrets(JSON.stringify(env[name])))} ${redactSecrets(reason)}`);
    return undefined;
  }
}

/**
 * The default of a variable not set; with `checkPresent` and `presentDefault`, what it names checked as a value's
 * would be (`./backups` from a working directory this user may not write): refused naming the variable to set.
 */
function defaultValue(
  v: Variable,
  read: { earlier: (name: string) => unknown; isSet: (name: string) => boolean },
  errors: string[],
  checkPresent: ReadonlySet<VariableGroup> | undefined,
): unknown {
  const value = v.defaultOf ? v.defaultOf(read.earlier) : v.default;
  if (!checkPresent || v.presentDefault !== true || typeof value !== 'string') return value;
  try {
    v.present?.(value, checkPresent, read.isSet);
    return value;
  } catch (err) {
    const here = isAbsolute(value) ? '' : ` (here ${resolve(value)})`;
    errors.push(`${v.name} is not set, and its default ${JSON.stringify(value)}${here} ${err instanceof Error ? err.message : String(err)}: set ${v.name}`);
    return undefined;
  }
}

/** A quoted value as an error shows it: its start when long (thousands of recipients would fill the screen). */
function shownValue(quoted: string): string {
  return quoted.length <= 2000 ? quoted : `${quoted.slice(0, 200)}..." (${quoted.length} characters)`;
}

/** The name a variable is read under: the older one only when the current one is not set; errors name the one read. */
function nameRead(env: Env, v: Variable): string {
  return v.alias !== undefined && setValue(env, v, v.name) === undefined ? v.alias : v.name;
}

/** True when the variable is set but empty (or only spaces) where that is refused (Variable.empty). */
function refusedEmpty(env: Env, v: Variable): boolean {
  return 'give' in v.empty && env[nameRead(env, v)]?.trim() === '';
}

/** The Config the values make: each at its variable's field; the S3 store when RS_S3_BUCKET is set, else the local one. */
function assemble(values: Map<string, unknown>): Config {
  const config: Record<string, unknown> = { etcd: {}, encryption: {}, retention: {}, selection: {}, store: {} };
  for (const v of VARIABLES) {
    const value = values.get(v.name);
    if (value === undefined) continue;
    const path = v.field.split('.');
    let at = config;
    for (const part of path.slice(0, -1)) at = (at[part] ??= {}) as Record<string, unknown>;
    at[path[path.length - 1]!] = value;
  }
  const fields = config.store as Record<string, unknown>;
  const store: StoreConfig =
    fields.bucket !== undefined
      ? ({ kind: 's3', ...Object.fromEntries(S3_FIELDS.filter((f) => fields[f] !== undefined).map((f) => [f, fields[f]])) } as StoreConfig)
      : { kind: 'local', dir: fields.dir as string };
  return { ...config, store } as unknown as Config;
}

/**
 * Names an operator gives the endpoint variables from other tools' words (a URL, a host, a server), which no spelling
 * brings near: RS_ETCD_URL is eight edits from RS_ETCD_ENDPOINTS, and its ending would name RS_KUBELET_URL's kind.
 * Lower case, as suggest() looks synonyms up.
 */
const ENDPOINT_WORDS = ['url', 'urls', 'host', 'hosts', 'address', 'addr', 'server', 'servers', 'endpoint_url'];
const VARIABLE_SYNONYMS: Readonly<Record<string, string>> = Object.fromEntries([
  ...ENDPOINT_WORDS.map((w) => [`rs_etcd_${w}`, 'RS_ETCD_ENDPOINTS']),
  ...ENDPOINT_WORDS.map((w) => [`rs_s3_${w}`, 'RS_S3_ENDPOINT']),
]);

/** A misspelt variable would otherwise be ignored without a word (RS_RETENTION_KEEP_LST=7 keeping everything). */
function unknownVariables(env: Env): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith('RS_') && !KNOWN_VARIABLES.includes(name))
    .map((name) => {
      const near = suggest(name, KNOWN_VARIABLES, VARIABLE_SYNONYMS) ?? sameEnding(name, KNOWN_VARIABLES);
      return `${name} is not a reshifter variable${near !== undefined ? ` (did you mean ${near}?)` : ''}`;
    });
}

/**
 * The one known variable that ends with the same words as `name`, from its longest ending on: RS_AGE_RECIPIENTS (the
 * age tool's word) gives RS_ENCRYPTION_RECIPIENTS. Undefined when several end so (RS_X_TIMEOUT) or none does.
 */
function sameEnding(name: string, known: readonly string[]): string | undefined {
  const words = name.split('_');
  for (let n = words.length - 2; n >= 1; n--) {
    const hits = known.filter((k) => k.endsWith(`_${words.slice(-n).join('_')}`));
    if (hits.length > 0) return hits.length === 1 ? hits[0] : undefined;
  }
  return undefined;
}

/**
 * A value quoted in an error with what must never be printed taken out, for the mistakes that put a secret where none
 * belongs: an age secret key (pasted as a recipient), a URL's user info (user and password).
 */
export function redactSecrets(text: string): string {
  // User info after a scheme's `//`, or at the start of a value given without one (`user:pw@host:9091`), the user
  // too: in RS_S3_ENDPOINT it is the access key id.
  return text
    .replace(/AGE-SECRET-KEY-1[0-9A-Z]+/gi, 'AGE-SECRET-KEY-1(hidden)')
    .replace(/(\/\/|^|["'\s,(])[^/:@\s"',()]*:[^@/\s"]*@/g, '$1(hidden)@');
}
