import { statSync } from 'node:fs';
import { parseArgs as parseWith, type CommandSpec, type CommandTable, type FlagOverrides, type FlagSpec, type Parsed } from './cli-args.js';
import { commandHelp, generalHelp, usageLines } from './cli-help.js';
import type { Args } from './commands/context.js';
import type { VariableGroup } from './config/variables.js';

export type { CommandSpec, FlagSpec, Invocation, Parsed } from './cli-args.js';

/**
 * Flags that set a configuration variable for one invocation. A command takes one when it uses the variable's group
 * (`list --cluster prod`, never `version --endpoints ...`), and the value is checked as the variable's would be.
 */
export const FLAG_OVERRIDES: FlagOverrides = {
  endpoints: { variable: 'RS_ETCD_ENDPOINTS', group: 'etcd', value: 'URLS' },
  strategy: { variable: 'RS_BACKUP_STRATEGY', group: 'backup', value: 'S' },
  cluster: { variable: 'RS_CLUSTER_NAME', group: 'store', value: 'NAME' },
  'backup-dir': { variable: 'RS_BACKUP_DIR', group: 'store', value: 'DIR' },
  's3-bucket': { variable: 'RS_S3_BUCKET', group: 'store', value: 'BUCKET' },
  's3-prefix': { variable: 'RS_S3_PREFIX', group: 'store', value: 'PREFIX' },
  compression: { variable: 'RS_COMPRESSION', group: 'backup', value: 'C' },
  'log-level': { variable: 'LOG_LEVEL', group: 'general', value: 'LEVEL' },
};

/** The variable each override flag sets. */
export const FLAG_VARIABLES: Record<string, string> = Object.fromEntries(Object.entries(FLAG_OVERRIDES).map(([f, o]) => [f, o.variable]));

// Options several commands share, worded once.
const JSON_FLAG: FlagSpec = { name: 'json', help: 'print JSON instead of text' };
const SERIES_FLAG: FlagSpec = { name: 'strategy', value: 'S', help: 'narrow "latest" to the backups of series S (snapshot, raw, render, filter:...)' };
const DRY_RUN: FlagSpec = { name: 'dry-run', help: 'say what would be done; change nothing' };

// What commands read, by kind of work.
const READS_BACKUPS: VariableGroup[] = ['store', 'encryption', 'decryption', 'work area'];
const TAKES_BACKUPS: VariableGroup[] = ['etcd', 'store', 'backup', 'encryption', 'retention', 'selection', 'metrics', 'checkpoint'];

/** True when `target` is a file on this machine, or a pipe (/dev/stdin, `<(...)`): then `inspect` reads it, and no store. */
const isFile = (target: string | undefined): boolean => {
  try {
    const s = target === undefined ? undefined : statSync(target);
    return s !== undefined && (s.isFile() || s.isFIFO());
  } catch {
    return false;
  }
};

/**
 * Every command: its words, options, the variables it reads and its help, in one table (README, Development). A new
 * command is a row here and a file in commands/; it loads lazily so `version` does not pay for the AWS SDK and gRPC.
 */
export const COMMANDS: Record<string, CommandSpec> = {
  backup: {
    summary: 'take one backup now, then apply retention',
    usage: ['backup [--json]'],
    args: { min: 0, max: 0 },
    flags: [{ name: 'json', help: 'print the manifest as JSON' }],
    uses: TAKES_BACKUPS,
    sideOutput: true,
    load: async () => (await import('./commands/backup.js')).backupCommand,
  },
  list: {
    summary: "list the cluster's backups, newest first; or every cluster in the store",
    usage: ['list [--strategy S] [--json]', 'list --all-clusters [--json]'],
    args: { min: 0, max: 0 },
    flags: [
      { name: 'strategy', value: 'S', help: 'only the backups of series S' },
      { name: 'all-clusters', help: 'the clusters in the store (one bucket or folder shared by a fleet): newest backup and its age' },
      JSON_FLAG,
    ],
    uses: ['store'],
    stopsUnread: true,
    load: async () => (await import('./commands/list.js')).listCommand,
  },
  delete: {
    summary: 'delete backups by id: the manifest first, then the artifact, as retention does',
    usage: ['delete <id>... [--dry-run] [--force] [--json]'],
    args: { min: 1, max: Infinity, missing: 'the id of at least one backup ("reshifter list" shows them)' },
    flags: [DRY_RUN, { name: 'force', help: 'also delete the newest backup of a series (refused without it)' }, JSON_FLAG],
    about: ['Every id is checked before anything is deleted: an unknown id, or the newest backup of its series without --force, deletes nothing.'],
    uses: ['store'],
    load: async () => (await import('./commands/delete.js')).deleteCommand,
  },
  verify: {
    summary: 're-read a backup and check it against its manifest; or check a snapshot file',
    usage: ['verify [<id>|latest] [--strategy S] [--json]', 'verify <id> --chain [--json]', 'verify <snapshot-file> [--json]'],
    args: { min: 0, max: 1 },
    flags: [SERIES_FLAG, { name: 'chain', help: 'a full backup and every delta segment of its chain, with no revision missing' }, JSON_FLAG],
    about: ["A snapshot file (etcdctl's, k3s's; gzip, zstd, age or a k3s .zip decoded in the work area) is checked as a snapshot backup's file is: meta pages, etcd's sha256 trailer, every page."],
    uses: READS_BACKUPS,
    // A file is read without the store.
    usesFor: (a: Args) => (isFile(a.positionals[0]) ? ['decryption', 'work area'] : READS_BACKUPS),
    load: async () => (await import('./commands/verify.js')).verifyCommand,
  },
  prune: {
    summary: 'apply the retention rules to every series (a backup applies them to its own series)',
    usage: ['prune [--strategy S] [--dry-run] [--json]'],
    args: { min: 0, max: 0 },
    flags: [{ name: 'strategy', value: 'S', help: 'apply the rules to the backups of series S only' }, DRY_RUN, JSON_FLAG],
    uses: ['store', 'retention'],
    load: async () => (await import('./commands/prune.js')).pruneCommand,
  },
  run: {
    summary: 'run backups on RS_SCHEDULE and serve the API and web UI on RS_HTTP_PORT, until SIGTERM',
    usage: ['run'],
    args: { min: 0, max: 0 },
    flags: [],
    uses: [...TAKES_BACKUPS, 'decryption', 'schedule', 'server', 'work area'],
    sideOutput: true,
    load: async () => (await import('./commands/run.js')).runCommand,
  },
  restore: {
    summary: 'restore a backup: a key dump into RS_ETCD_ENDPOINTS, a snapshot into a new data directory, a container checkpoint as an OCI image archive',
    usage: [
      'restore <id>|latest [--strategy S] [--dry-run] [--skip-existing] [--json]',
      'restore <snapshot-id>|latest|<snapshot-file> --keys [--dry-run] [--skip-existing] [--json]',
      'restore <snapshot-id>|latest --data-dir DIR [--name N] [--initial-cluster C] [--initial-advertise-peer-urls U] [--initial-cluster-token T]',
      'restore <snapshot-id>|latest|<snapshot-file> --snapshot-file FILE [--json]: the plain snapshot file etcdctl snapshot save writes (k3s --cluster-reset-restore-path)',
      'restore <checkpoint-id>|latest --image-archive FILE [--image-name NAME] [--json]',
      'restore <id>|latest --to <revision>|<RFC 3339 time>|latest [any key or data-dir option above]: a point in time, from a chain of continuous backups',
      "restore <go-id>|<go-id>.zip [--dry-run] [--skip-existing] [--json]: a backup of the Go Reshifter (1498050161), its zip at the store's root or a file",
    ],
    args: { min: 1, max: 1, missing: 'the id of a backup (or "latest"): "reshifter list" shows them' },
    flags: [
      SERIES_FLAG,
      { name: 'dry-run', help: 'print the plan; write nothing' },
      { name: 'skip-existing', help: 'leave keys that exist in etcd as they are' },
      { name: 'keys', help: "write a snapshot's live keys into the etcd at RS_ETCD_ENDPOINTS (a snapshot backup, or a snapshot file: etcdctl's, k3s's)" },
      { name: 'data-dir', value: 'DIR', help: 'restore a snapshot into this new etcd data directory (etcdutl)' },
      { name: 'name', value: 'N', help: "the member's name (with --data-dir)" },
      { name: 'initial-cluster', value: 'C', help: 'the initial cluster (with --data-dir)' },
      { name: 'initial-advertise-peer-urls', value: 'U', help: "the member's peer URLs (with --data-dir)" },
      { name: 'initial-cluster-token', value: 'T', help: 'the cluster token (with --data-dir)' },
      { name: 'snapshot-file', value: 'FILE', help: "write a snapshot backup to this new file as etcdctl snapshot save does (for k3s's --cluster-reset-restore-path)" },
      { name: 'image-archive', value: 'FILE', help: 'write a container checkpoint as an OCI image archive to this new file' },
      { name: 'image-name', value: 'NAME', help: 'the image name recorded in the archive (with --image-archive)' },
      { name: 'to', value: 'POINT', help: 'a revision, an RFC 3339 time or latest: the full backup and the changes recorded after it, up to there' },
      JSON_FLAG,
    ],
    about: [
      'A snapshot of a cluster of several members restored with --data-dir alone becomes a new cluster of one member. To restore',
      'the cluster, restore it once per member, each with its own --name and --initial-advertise-peer-urls and the same',
      '--initial-cluster (and --initial-cluster-token); see "Disaster recovery" in the README.',
    ],
    uses: ['etcd', 'selection', 'metrics', ...READS_BACKUPS],
    usesFor: (a: Args) => {
      // A snapshot file is read without the store (a compressed or encrypted one is decoded in the work area).
      if (isFile(a.positionals[0])) return ['etcd', 'selection', 'metrics', 'decryption', 'work area'];
      return a.flags['data-dir'] !== undefined || a.flags['image-archive'] !== undefined || a.flags['snapshot-file'] !== undefined ? ['metrics', ...READS_BACKUPS] : ['etcd', 'selection', 'metrics', ...READS_BACKUPS];
    },
    load: async () => (await import('./commands/restore.js')).restoreCommand,
  },
  stats: {
    summary: 'keys and bytes per prefix, resource, namespace and encoding, live, of a backup or of a snapshot file',
    usage: ['stats [<id>|latest|<snapshot-file>] [--strategy S] [--keys] [--json]'],
    args: { min: 0, max: 1 },
    flags: [SERIES_FLAG, { name: 'keys', help: 'also list every key (the render listing)' }, JSON_FLAG],
    uses: ['etcd', 'selection', ...READS_BACKUPS],
    usesFor: (a: Args) => (a.positionals.length === 0 ? ['etcd', 'selection'] : isFile(a.positionals[0]) ? ['selection', 'decryption', 'work area'] : ['selection', ...READS_BACKUPS]),
    stopsUnread: true,
    load: async () => (await import('./commands/stats.js')).statsCommand,
  },
  inspect: {
    summary: 'read an etcd snapshot offline (a file or a snapshot backup): status, live keys, one value, audit listing; the keys, a value and the listing of a key dump too',
    usage: [
      'inspect <id>|latest|<file> [--strategy S] [--json]',
      'inspect <id|file> --keys [--prefix P] [--revision R] [--json]',
      'inspect <id|file> --get KEY [--revision R] [--raw]',
      'inspect <id|file> --render [--prefix P] [--revision R] [--json]',
    ],
    args: { min: 1, max: 1, missing: 'a snapshot file or a backup id (or "latest")' },
    flags: [
      SERIES_FLAG,
      { name: 'keys', help: 'list the live keys' },
      { name: 'get', value: 'KEY', help: 'show one key' },
      { name: 'raw', help: "with --get: print the value's bytes as they are" },
      { name: 'render', help: 'print the audit listing of the render strategy' },
      { name: 'prefix', value: 'P', help: 'only keys under P (--keys, --render)' },
      { name: 'revision', value: 'R', help: 'as of revision R' },
      JSON_FLAG,
    ],
    uses: ['selection', ...READS_BACKUPS],
    // A file is read without the store (a compressed or encrypted one is decoded in the work area).
    usesFor: (a: Args) => (isFile(a.positionals[0]) ? ['selection', 'work area'] : ['selection', ...READS_BACKUPS]),
    stopsUnread: true,
    load: async () => (await import('./commands/inspect.js')).inspectCommand,
  },
  diff: {
    summary: 'objects added, removed and changed between two backups or snapshot files, per resource and namespace',
    usage: ['diff <from> <to> [--strategy S] [--json]: each an <id>, latest or a <snapshot-file>'],
    args: {
      min: 2,
      max: 2,
      missing: 'two backup ids or snapshot files, <from> and <to> ("reshifter list" shows the ids; "latest" is the newest snapshot or key dump)',
    },
    flags: [SERIES_FLAG, JSON_FLAG],
    about: [
      "A snapshot file (etcdctl's, k3s's; gzip, zstd, age or a k3s .zip too, decoded in RS_TMP_DIR) is read offline, every live",
      "key, as a snapshot backup is; one whose data fails etcd's sha256 trailer is refused. Two files need no store.",
    ],
    uses: READS_BACKUPS,
    // Two files are read without the store (a compressed or encrypted one is decoded in the work area).
    usesFor: (a: Args) => (a.positionals.length === 2 && a.positionals.every(isFile) ? ['decryption', 'work area'] : READS_BACKUPS),
    stopsUnread: true,
    load: async () => (await import('./commands/diff.js')).diffCommand,
  },
  explore: {
    summary: 'probe the etcd endpoint',
    usage: ['explore [--json]'],
    args: { min: 0, max: 0 },
    flags: [JSON_FLAG],
    uses: ['etcd'],
    stopsUnread: true,
    load: async () => (await import('./commands/explore.js')).exploreCommand,
  },
  demo: {
    summary: 'start a throwaway etcd with sample Kubernetes data, back it up to ./backups, list and verify',
    usage: ['demo'],
    args: { min: 0, max: 0 },
    flags: [],
    uses: ['store', 'backup', 'encryption', 'decryption', 'work area'],
    load: async () => (await import('./commands/demo.js')).demoCommand,
  },
  version: {
    summary: 'print the version',
    usage: ['version [--json]'],
    args: { min: 0, max: 0 },
    flags: [JSON_FLAG],
    uses: [],
    load: async () => (await import('./commands/version.js')).versionCommand,
  },
};

/**
 * k3s's `etcd-snapshot save|ls|delete|prune` habit, in Reshifter's words: `backup create|list|delete|prune` are the
 * top-level commands. Any other word after `backup` is an error, never a new backup.
 */
export const SUBCOMMANDS = { backup: { create: 'backup', list: 'list', delete: 'delete', prune: 'prune' } };

/** Words from etcdctl, k3s and Velero, suggested as ours. */
const SYNONYMS: Record<string, string> = { save: 'backup', create: 'backup', ls: 'list', rm: 'delete', remove: 'delete', status: 'inspect', check: 'verify' };

/** etcdctl's and etcdutl's snapshot commands, which an operator in a recovery types first. */
const HABITS: Record<string, string> = {
  'snapshot save': `etcdctl's "snapshot save" is "reshifter backup" here (a snapshot is the default strategy)`,
  'snapshot restore': `etcdctl's "snapshot restore" is "reshifter restore <id>|latest --data-dir DIR [--name ... --initial-cluster ...]" here (--snapshot-file FILE writes the snapshot file itself)`,
  'snapshot status': `etcdctl's "snapshot status" is "reshifter inspect <id>|latest|<file>" here`,
  snapshot: `etcdctl's snapshot save, restore and status are "reshifter backup", "reshifter restore <id>|latest --data-dir DIR" and "reshifter inspect" here`,
  // The first look at a cluster, before and after a restore.
  'endpoint status': `etcdctl's "endpoint status" is "reshifter explore" here (version, DB size, revision, leader; --json)`,
  'endpoint health': `etcdctl's "endpoint health" is "reshifter explore" here (an endpoint that does not answer is marked so)`,
  endpoint: `etcdctl's endpoint status and health are "reshifter explore" here`,
  'member list': `etcdctl's "member list" is "reshifter explore" here (its members, the leader marked)`,
  member: `etcdctl's "member list" is "reshifter explore" here (its members, the leader marked)`,
  // k3s's `k3s etcd-snapshot` sub-commands, a k3s operator's habit (`ls` and `list`, `delete` and `rm` alike).
  'etcd-snapshot save': `k3s's "etcd-snapshot save" is "reshifter backup" here (a snapshot is the default strategy)`,
  'etcd-snapshot ls': `k3s's "etcd-snapshot ls" is "reshifter list" here`,
  'etcd-snapshot list': `k3s's "etcd-snapshot list" is "reshifter list" here`,
  'etcd-snapshot delete': `k3s's "etcd-snapshot delete" is "reshifter delete <id>..." here`,
  'etcd-snapshot rm': `k3s's "etcd-snapshot rm" is "reshifter delete <id>..." here`,
  'etcd-snapshot prune': `k3s's "etcd-snapshot prune" is "reshifter prune" here (retention: RS_RETENTION_*)`,
  'etcd-snapshot': `k3s's etcd-snapshot save, ls, delete and prune are "reshifter backup", "list", "delete" and "prune" here; ` +
    `"reshifter restore <id>|latest --snapshot-file FILE" writes the file "k3s server --cluster-reset --cluster-reset-restore-path=FILE" restores`,
};

export const TABLE: CommandTable = { commands: COMMANDS, subcommands: SUBCOMMANDS, overrides: FLAG_OVERRIDES, synonyms: SYNONYMS, habits: HABITS };

/** Parses argv (without node and the script) against the command table; throws UsageError (exit 2). */
export function parseArgs(argv: readonly string[]): Parsed {
  return parseWith(TABLE, argv);
}

/** The help text: of one command, or of the whole tool. */
export function helpText(command?: string): string {
  return command === undefined ? generalHelp(TABLE, NOTES) : commandHelp(TABLE, command);
}

/** A command's usage lines, printed after a usage error. */
export function usageOf(command: string): string[] {
  return usageLines(TABLE, command);
}

const NOTES = [
  '"latest" is the newest backup the command can read: verify any; inspect a snapshot; restore a key dump (a snapshot',
  'with --keys or --data-dir); stats a snapshot, key dump or render listing; diff a snapshot or key dump.',
  '--strategy S narrows "latest" (and list) to the backups of series S; for backup it is the strategy to use.',
  '',
  'Configuration comes from environment variables (see README); these flags set some of them for one command:',
  ...Object.entries(FLAG_OVERRIDES).map(([f, o]) => `  --${`${f} ${o.value}`.padEnd(18)} ${o.variable}`),
];
