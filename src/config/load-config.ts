import type { Config, StoreConfig } from './types.js';
import { VARIABLES, type Variable } from './variables.js';

export type Env = Record<string, string | undefined>;
export type LoadResult = { config: Config; errors?: undefined } | { config?: undefined; errors: string[] };

/** Every variable reshifter reads (older names included): any other `RS_` variable is refused as a likely typo. */
export const KNOWN_VARIABLES: readonly string[] = VARIABLES.flatMap((v) => (v.alias !== undefined ? [v.name, v.alias] : [v.name]));

/** Variables whose values must never appear in a message. */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(VARIABLES.filter((v) => v.secret).map((v) => v.name));

/** Fields of the S3 store: kept only when RS_S3_BUCKET selects it. */
const S3_FIELDS = ['bucket', 'endpoint', 'region', 'prefix', 'forcePathStyle', 'requestTimeoutMs', 'retryWindowMs', 'accessKeyId', 'secretAccessKey', 'sse', 'sseKmsKeyId'];

/**
 * Reads the configuration from `env` (never from anywhere else), variable by variable as variables.ts declares them.
 * Returns the typed config, or every problem at once, each naming the variable and its bad value:
 * `RS_SCHEDULE was invalid: "every hour" is not a cron expression`.
 */
export function loadConfig(env: Env = process.env): LoadResult {
  const errors: string[] = [];
  const values = new Map<string, unknown>();
  const earlier = (name: string) => values.get(name);
  const isSet = (name: string) => setValue(env, VARIABLES.find((v) => v.name === name)!, name) !== undefined;
  for (const v of VARIABLES) {
    const value = readVariable(env, v, earlier, errors);
    if (value !== undefined) values.set(v.name, value);
    const broken = v.check?.(isSet, earlier);
    if (broken !== undefined) errors.push(broken);
  }
  errors.push(...unknownVariables(env));
  if (errors.length > 0) return { errors };
  return { config: assemble(values) };
}

/** A variable's value as it counts as set (see Variable.unset), or undefined. */
function setValue(env: Env, v: Variable, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  if (v.unset === 'absent') return raw;
  if (v.unset === 'empty') return raw === '' ? undefined : raw;
  return raw.trim() === '' ? undefined : raw.trim();
}

/** One variable's value: parsed, or its default when not set; on a bad value records why and returns undefined. */
function readVariable(env: Env, v: Variable, earlier: (name: string) => unknown, errors: string[]): unknown {
  // The older name is read only when the current one is not set; errors name the one read.
  const name = v.alias !== undefined && setValue(env, v, v.name) === undefined ? v.alias : v.name;
  const value = setValue(env, v, name);
  if (value === undefined) return v.defaultOf ? v.defaultOf(earlier) : v.default;
  if (!v.parse) return value;
  try {
    return v.parse(value, earlier);
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).replace(/^env-var: "[^"]*" /, '');
    errors.push(`${name} was invalid: ${v.secret ? '(hidden)' : JSON.stringify(env[name])} ${reason}`);
    return undefined;
  }
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

/** A misspelt variable would otherwise be ignored without a word (RS_RETENTION_KEEP_LST=7 keeping everything). */
function unknownVariables(env: Env): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith('RS_') && !KNOWN_VARIABLES.includes(name))
    .map((name) => {
      const near = closest(name, KNOWN_VARIABLES);
      return `${name} is not a reshifter variable${near !== undefined ? ` (did you mean ${near}?)` : ''}`;
    });
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
