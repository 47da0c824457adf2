import { ConfigError } from './core/errors.js';
import type { Args, Command } from './commands/context.js';

interface CommandSpec {
  summary: string;
  usage: string;
  flags: string[];
  load: () => Promise<Command>;
}

/** Flags that override a configuration variable for interactive use. */
export const FLAG_VARIABLES: Record<string, string> = {
  endpoints: 'RS_ETCD_ENDPOINTS',
  strategy: 'RS_BACKUP_STRATEGY',
  cluster: 'RS_CLUSTER_NAME',
  'backup-dir': 'RS_BACKUP_DIR',
  's3-bucket': 'RS_S3_BUCKET',
  's3-prefix': 'RS_S3_PREFIX',
  compression: 'RS_COMPRESSION',
  'log-level': 'LOG_LEVEL',
};
const COMMON_FLAGS = [...Object.keys(FLAG_VARIABLES), 'help'];

// Commands load lazily so `version` does not pay for the AWS SDK and gRPC.
export const COMMANDS: Record<string, CommandSpec> = {
  backup: {
    summary: 'take one backup now, then apply retention',
    usage: 'backup [--json]',
    flags: ['json'],
    load: async () => (await import('./commands/backup.js')).backupCommand,
  },
  list: {
    summary: "list the cluster's backups, newest first",
    usage: 'list [--strategy S] [--json]',
    flags: ['json'],
    load: async () => (await import('./commands/list.js')).listCommand,
  },
  verify: {
    summary: 're-read a backup and check it against its manifest',
    usage: 'verify [<id>|latest] [--strategy S] [--json]  |  verify <id> --chain [--json]',
    flags: ['json', 'chain'],
    load: async () => (await import('./commands/verify.js')).verifyCommand,
  },
  prune: {
    summary: 'apply the retention rules',
    usage: 'prune [--dry-run] [--json]',
    flags: ['dry-run', 'json'],
    load: async () => (await import('./commands/prune.js')).pruneCommand,
  },
  run: {
    summary: 'run backups on RS_SCHEDULE and serve the API and web UI on RS_HTTP_PORT, until SIGTERM',
    usage: 'run',
    flags: [],
    load: async () => (await import('./commands/run.js')).runCommand,
  },
  restore: {
    summary: 'restore a backup: a key dump into RS_ETCD_ENDPOINTS, a snapshot into a new data directory',
    usage: 'restore <id>|latest [--strategy S] [--dry-run] [--skip-existing] [--json]  |  restore <snapshot-id>|latest --keys [--dry-run] [--skip-existing] [--json]  |  restore <snapshot-id>|latest --data-dir DIR [--name N] [--initial-cluster C] [--initial-advertise-peer-urls U] [--initial-cluster-token T]  |  any of these with --to <revision>|<RFC 3339 time>|latest (point in time, from a chain of continuous backups)',
    flags: ['dry-run', 'skip-existing', 'json', 'keys', 'data-dir', 'name', 'initial-cluster', 'initial-advertise-peer-urls', 'initial-cluster-token', 'to'],
    load: async () => (await import('./commands/restore.js')).restoreCommand,
  },
  stats: {
    summary: 'keys and bytes per prefix, resource, namespace and encoding, live or of a backup',
    usage: 'stats [<id>|latest] [--strategy S] [--keys] [--json]',
    flags: ['keys', 'json'],
    load: async () => (await import('./commands/stats.js')).statsCommand,
  },
  inspect: {
    summary: 'read an etcd snapshot offline (a file or a snapshot backup): status, live keys, one value, audit listing',
    usage: 'inspect <id>|latest|<file> [--strategy S] [--json]  |  inspect <id|file> --keys [--prefix P] [--revision R] [--json]  |  inspect <id|file> --get KEY [--revision R] [--raw]  |  inspect <id|file> --render [--prefix P] [--revision R] [--json]',
    flags: ['json', 'keys', 'prefix', 'revision', 'get', 'raw', 'render'],
    load: async () => (await import('./commands/inspect.js')).inspectCommand,
  },
  diff: {
    summary: 'objects added, removed and changed between two backups, per resource and namespace',
    usage: 'diff <from> <to> [--strategy S] [--json]',
    flags: ['json'],
    load: async () => (await import('./commands/diff.js')).diffCommand,
  },
  explore: {
    summary: 'probe the etcd endpoint',
    usage: 'explore [--json]',
    flags: ['json'],
    load: async () => (await import('./commands/explore.js')).exploreCommand,
  },
  demo: {
    summary: 'start a throwaway etcd with sample Kubernetes data, back it up to ./backups, list and verify',
    usage: 'demo',
    flags: [],
    load: async () => (await import('./commands/demo.js')).demoCommand,
  },
  version: {
    summary: 'print the version',
    usage: 'version [--json]',
    flags: ['json'],
    load: async () => (await import('./commands/version.js')).versionCommand,
  },
};

/** `backup create` and `backup list` are Reshifter-style aliases. */
const ALIASES: Record<string, string> = { 'backup create': 'backup', 'backup list': 'list' };

export interface Invocation {
  command: string;
  spec: CommandSpec;
  args: Args;
}

/** The help text. */
export function usage(): string {
  const lines = ['usage: reshifter <command> [options]', '', 'commands:'];
  for (const spec of Object.values(COMMANDS)) {
    // Long usages (restore has two forms) go on lines of their own, the summary below them.
    if (spec.usage.length > 34) lines.push(...spec.usage.split('  |  ').map((u) => `  ${u}`), `  ${''.padEnd(34)} ${spec.summary}`);
    else lines.push(`  ${spec.usage.padEnd(34)} ${spec.summary}`);
  }
  lines.push('', '"latest" is the newest backup the command can read: verify any; inspect a snapshot; restore a key dump (a snapshot');
  lines.push('with --keys or --data-dir); stats a snapshot, key dump or render listing; diff a snapshot or key dump.');
  lines.push('--strategy S narrows "latest" (and list) to the backups of series S; for backup it is the strategy to use.');
  lines.push('', 'Configuration comes from environment variables (see README); these flags override some of them:');
  lines.push(`  ${Object.entries(FLAG_VARIABLES).map(([f, v]) => `--${f} (${v})`).join(', ')}`);
  return lines.join('\n');
}

/** Parses argv (without node and the script). Throws ConfigError (exit 2) for an unknown command or flag. */
export function parseArgs(argv: string[]): Invocation | 'help' {
  const positionals: string[] = [];
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
      if (eq !== -1) flags[name] = a.slice(eq + 1);
      else if (name in FLAG_VARIABLES || VALUE_FLAGS.has(name)) {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--')) throw new ConfigError([`--${name} needs a value`]);
        flags[name] = next;
        i++;
      } else flags[name] = true;
    } else if (a === '-h') flags.help = true;
    else positionals.push(a);
  }
  if (positionals.length === 0 || positionals[0] === 'help' || (flags.help && positionals.length === 0)) return 'help';
  let command = positionals.shift()!;
  const alias = ALIASES[`${command} ${positionals[0] ?? ''}`];
  if (alias) {
    command = alias;
    positionals.shift();
  }
  const spec = COMMANDS[command];
  if (!spec) throw new ConfigError([`unknown command "${command}"; run "reshifter help" for the list`]);
  if (flags.help) return 'help';
  const allowed = new Set([...spec.flags, ...COMMON_FLAGS]);
  const unknown = Object.keys(flags).filter((f) => !allowed.has(f));
  if (unknown.length > 0) {
    throw new ConfigError(unknown.map((f) => `unknown option --${f} for "${command}" (usage: reshifter ${spec.usage})`));
  }
  return { command, spec, args: { positionals, flags } };
}

/** Flags (beyond the variable overrides) that take a value. Commands add theirs here. */
export const VALUE_FLAGS = new Set<string>(['data-dir', 'name', 'initial-cluster', 'initial-advertise-peer-urls', 'initial-cluster-token', 'prefix', 'revision', 'get', 'to']);
