import type { Args, Command } from './commands/context.js';
import { VARIABLES, type VariableGroup } from './config/variables.js';
import { UsageError } from './core/errors.js';
import { suggest } from './core/suggest.js';

/** One option of a command. */
export interface FlagSpec {
  /** Without the dashes: `dry-run`. */
  name: string;
  /** Takes a value, shown in help as this placeholder (`DIR`); a switch when absent. */
  value?: string;
  help: string;
}

/** A command as the command table (cli.ts) declares it: everything its parsing, checks and help are made from. */
export interface CommandSpec {
  summary: string;
  /** Its forms, after `reshifter ` (one line each in help). */
  usage: readonly string[];
  /** How many words may follow it: at least `min`, at most `max` (Infinity: any number); `missing` names them. */
  args: { min: number; max: number; missing?: string };
  /** Its own options; the variable overrides of the groups it uses come on top (FlagOverrides). */
  flags: readonly FlagSpec[];
  /** The groups of variables it can read: help lists them, and only their files and folders are checked. */
  uses: readonly VariableGroup[];
  /** The groups this invocation reads, when fewer than `uses` (`inspect <file>` reads no store). */
  usesFor?: (args: Args) => readonly VariableGroup[];
  /** More help: lines printed after the usage. */
  about?: readonly string[];
  /**
   * Its printed lines are a by-product of what it does (a new backup's id, a render listing's rows): a stdout that
   * fails (`> file` on a full disk) does not fail it, and its exit code says how its work went. Any other command's
   * output is what it was asked for, and such a failure is exit 1.
   */
  sideOutput?: true;
  /**
   * It reads and prints, changing nothing, and its exit code says nothing its output does not (`list`, `stats`,
   * `inspect`, `diff`, `explore`; not `verify`, whose exit code is its verdict): when stdout's reader goes away
   * (`| head`), it stops reading and exits 0, as `cat` stops.
   */
  stopsUnread?: true;
  load: () => Promise<Command>;
}

/** Flags that set a configuration variable for one invocation, by flag name. */
export type FlagOverrides = Readonly<Record<string, { variable: string; group: VariableGroup; value: string }>>;

/** What the command line holds, and the tables that give its words a meaning. */
export interface CommandTable {
  commands: Readonly<Record<string, CommandSpec>>;
  /** `backup create` and the like: the word after a command that makes it another command. */
  subcommands: Readonly<Record<string, Readonly<Record<string, string>>>>;
  overrides: FlagOverrides;
  /** Words operators bring from other tools (`ls`, `rm`, `save`), suggested as ours. */
  synonyms: Readonly<Record<string, string>>;
  /**
   * Commands of other tools that are no word of ours (etcdctl's `snapshot save`), by their words (and by the first word
   * alone, for the rest): what to run here instead.
   */
  habits?: Readonly<Record<string, string>>;
}

export interface Invocation {
  command: string;
  spec: CommandSpec;
  args: Args;
}

/** What was asked for: a command to run, or help (for one command, or the whole tool). */
/** `noCommand`: nothing was asked (bare `reshifter`): the help is shown as a usage error, so a job with no arguments does not pass for done. */
export type Parsed = { kind: 'run'; invocation: Invocation } | { kind: 'help'; command?: string; noCommand?: boolean };

/** The flags a command takes: its own, then the variable overrides of the groups it uses. */
export function flagsOf(table: CommandTable, spec: CommandSpec): FlagSpec[] {
  const own = new Set(spec.flags.map((f) => f.name));
  const overrides = Object.entries(table.overrides)
    .filter(([name, o]) => !own.has(name) && (o.group === 'general' || spec.uses.includes(o.group)))
    .map(([name, o]) => ({ name, value: o.value, help: `sets ${o.variable}` }));
  return [...spec.flags, ...overrides];
}

/** Whether a flag takes a value, from any command that knows it (a name means the same everywhere). */
function takesValue(table: CommandTable, name: string): boolean {
  if (name in table.overrides) return true;
  return Object.values(table.commands).some((c) => c.flags.some((f) => f.name === name && f.value !== undefined));
}

interface Scanned {
  words: string[];
  flags: Map<string, string | true>;
  problems: string[];
  /** Flags given with one dash (`-w`), as typed, for messages. */
  short: Set<string>;
}

/** etcdctl's output format flags (`-w json`, `--write-out=json`) and kubectl's (`-o json`): `--json` here. */
const OUTPUT_FLAGS = new Set(['w', 'write-out', 'o', 'output']);

/** Splits argv into words and `--flag[=value]` options; `--` ends options. */
function scan(table: CommandTable, argv: readonly string[]): Scanned {
  const out: Scanned = { words: [], flags: new Map(), problems: [], short: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.words.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h') {
      out.flags.set('help', true);
      continue;
    }
    if (!a.startsWith('-') || a === '-') {
      out.words.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(a.startsWith('--') ? 2 : 1, eq === -1 ? undefined : eq);
    if (!a.startsWith('--')) out.short.add(name);
    if (out.flags.has(name)) out.problems.push(`--${name} is given twice`);
    if (eq !== -1) out.flags.set(name, a.slice(eq + 1));
    // An output format flag of etcdctl or kubectl takes its word (`-w json`), so that only the flag is refused; so
    // do etcdctl's connection flags (`--cacert FILE`) and a flag of the Go Reshifter's rcli (`-e URL`).
    else if (takesValue(table, name) || OUTPUT_FLAGS.has(name) || name in ETCDCTL_FLAGS || name in RESHIFTER_FLAGS || settingFlag(table, name)) {
      const next = argv[i + 1];
      // Without one the flag is `true`, which the command's check refuses as "needs a value".
      if (next === undefined || next.startsWith('--')) out.flags.set(name, true);
      else {
        out.flags.set(name, next);
        i++;
      }
    } else out.flags.set(name, true);
  }
  return out;
}

/**
 * Parses argv (without node and the script) against the command table. Every word must mean something: an unknown
 * command, sub-command or flag, a word too many or one missing is a UsageError (exit 2) naming each problem, with the
 * nearest known word ("did you mean").
 */
export function parseArgs(table: CommandTable, argv: readonly string[]): Parsed {
  const s = scan(table, argv);
  const help = s.flags.has('help');
  if (s.words.length === 0) {
    // `--version`, and `-v` / `-V` as many tools take them.
    if (s.flags.size === 1 && ['version', 'v', 'V'].some((f) => s.flags.has(f))) return run(table, 'version', [], new Map());
    if (help) return { kind: 'help' };
    if (s.flags.size === 0) return { kind: 'help', noCommand: true };
    throw new UsageError([`options come after a command: ${[...s.flags.keys()].map((f) => `${s.short.has(f) ? '-' : '--'}${f}`).join(' ')}`]);
  }
  const [first, ...rest] = s.words as [string, ...string[]];
  if (first === 'help') return helpOf(table, rest);
  const { command, words } = commandOf(table, first, rest);
  if (help) return { kind: 'help', command };
  return run(table, command, words, s.flags, s.problems, s.short);
}

/** `help`, `help <command>`, `help backup delete`. */
function helpOf(table: CommandTable, words: string[]): Parsed {
  if (words.length === 0) return { kind: 'help' };
  const { command, words: extra } = commandOf(table, words[0]!, words.slice(1));
  if (extra.length > 0) throw new UsageError([`help takes one command, got: ${words.join(' ')}`]);
  return { kind: 'help', command };
}

/** The command the first words name (`backup delete` is `delete`), and the words after it. */
function commandOf(table: CommandTable, first: string, rest: string[]): { command: string; words: string[] } {
  if (!(first in table.commands)) {
    const phrase = rest[0] !== undefined && table.habits?.[`${first} ${rest[0]}`] !== undefined ? `${first} ${rest[0]}` : first;
    const instead = table.habits?.[phrase];
    if (instead !== undefined) throw new UsageError([`unknown command "${phrase}": ${instead}`]);
    const near = suggest(first, Object.keys(table.commands), table.synonyms);
    throw new UsageError([`unknown command "${first}"${near ? ` (did you mean "${near}"?)` : ''}`]);
  }
  const subs = table.subcommands[first];
  const next = rest[0];
  if (subs === undefined || next === undefined) return { command: first, words: rest };
  const target = subs[next];
  if (target !== undefined) return { command: target, words: rest.slice(1) };
  // `backup` takes no words: any word after it is a sub-command, known or not. Never a silent new backup.
  if (table.commands[first]!.args.max === 0) {
    const names = Object.keys(subs);
    const synonyms = Object.fromEntries(Object.entries(table.synonyms).filter(([, to]) => names.includes(to)));
    const near = suggest(next, names, { ...synonyms, ...subSynonyms(table, subs) });
    throw new UsageError(
      [`unknown sub-command "${first} ${next}"${near ? ` (did you mean "${first} ${near}"?)` : ''}; the sub-commands of ${first} are ${names.join(', ')}`],
      first,
    );
  }
  return { command: first, words: rest };
}

/** Synonyms of the commands that sub-commands stand for (`rm` -> `delete` -> `backup delete`). */
function subSynonyms(table: CommandTable, subs: Readonly<Record<string, string>>): Record<string, string> {
  const bySub = Object.fromEntries(Object.entries(subs).map(([sub, cmd]) => [cmd, sub]));
  return Object.fromEntries(Object.entries(table.synonyms).flatMap(([word, cmd]) => (bySub[cmd] !== undefined ? [[word, bySub[cmd]!]] : [])));
}

/** Checks the words and flags against the command's spec. */
function run(table: CommandTable, command: string, words: string[], flags: Map<string, string | true>, scanned: string[] = [], short = new Set<string>()): Parsed {
  const spec = table.commands[command]!;
  const known = flagsOf(table, spec);
  const problems = [...scanned];
  for (const [name, value] of flags) {
    const flag = known.find((f) => f.name === name);
    if (!flag) problems.push(unknownFlag(table, command, name, known, short.has(name), value));
    else if (flag.value === undefined && value !== true) problems.push(`--${name} takes no value (got "${value}")`);
    else if (flag.value !== undefined && (value === true || value === '')) problems.push(`--${name} needs a value`);
    else if (typeof value === 'string' && flag.value !== undefined && PATH_VALUES.has(flag.value)) problems.push(...unexpandedTilde(name, value));
  }
  if (words.length > spec.args.max) {
    const extra = words.slice(spec.args.max);
    problems.push(`unexpected word${extra.length > 1 ? 's' : ''} ${extra.map((w) => `"${w}"`).join(' ')}: ${command} takes ${takes(spec.args.max)}`);
  } else if (words.length < spec.args.min) {
    problems.push(`${command} needs ${spec.args.missing ?? `${spec.args.min} argument${spec.args.min > 1 ? 's' : ''}`}`);
  }
  if (problems.length > 0) throw new UsageError(problems, command);
  return { kind: 'run', invocation: { command, spec, args: { positionals: words, flags: Object.fromEntries(flags) } } };
}

/** Placeholders of the flags that take a path of this machine (`--data-dir DIR`, `--image-archive FILE`, `--backup-dir DIR`). */
const PATH_VALUES = new Set(['DIR', 'FILE']);

/**
 * `--data-dir=~/restored`: a shell expands `~` only at the start of a word, so the path arrives as it is and would
 * make a folder named `~` in the working directory. `--data-dir ~/restored` (a space) reaches us expanded.
 */
function unexpandedTilde(name: string, value: string): string[] {
  if (!value.startsWith('~')) return [];
  return [`--${name} "${value}" starts with "~", which the shell left as it is (it expands ~ only at the start of a word): give --${name} ${value} with a space, or the full path`];
}

function takes(max: number): string {
  return max === 0 ? 'no arguments' : max === 1 ? 'one argument' : `at most ${max} arguments`;
}

/** etcdctl's connection flags, which reshifter takes as variables (an operator's `--cacert` out of habit). */
const ETCDCTL_FLAGS: Readonly<Record<string, string>> = {
  cacert: 'RS_ETCD_CA_CERT (or ETCDCTL_CACERT)',
  cert: 'RS_ETCD_CLIENT_CERT (or ETCDCTL_CERT)',
  key: 'RS_ETCD_CLIENT_KEY (or ETCDCTL_KEY)',
  user: 'RS_ETCD_USERNAME and RS_ETCD_PASSWORD (or ETCDCTL_USER)',
  password: 'RS_ETCD_PASSWORD (or ETCDCTL_PASSWORD)',
  'dial-timeout': 'RS_ETCD_TIMEOUT',
  'command-timeout': 'RS_ETCD_TIMEOUT',
};

/**
 * The variables an unknown `--name` may mean, as other tools spell settings as flags (`--keep-last 3`, `--compression
 * zstd`): RS_RETENTION_KEEP_LAST is `retention-keep-last`, which `--keep-last` ends. Settings are variables here; a
 * few also have flags (FlagOverrides).
 */
function variablesNamed(name: string): string[] {
  if (name.length < 3) return [];
  const asFlag = (variable: string) => variable.replace(/^RS_/, '').toLowerCase().replace(/_/g, '-');
  return VARIABLES.map((v) => v.name).filter((v) => asFlag(v) === name || asFlag(v).endsWith(`-${name}`));
}

/** An unknown flag that names a setting (variablesNamed): it takes its value, so that only the flag is refused. */
function settingFlag(table: CommandTable, name: string): boolean {
  const known = Object.values(table.commands).some((c) => c.flags.some((f) => f.name === name));
  return !known && variablesNamed(name).length > 0;
}

/**
 * The Go Reshifter's rcli flags (`rcli backup create -e URL -r HOST:PORT -b BUCKET`, `rcli restore -i ID`, in its
 * README and in operators' scripts): this tool is its successor, installed as `rcli` too, so each is named with what
 * takes its place. `value`: the flag's word, for `-r` to show the endpoint with its scheme.
 */
const RESHIFTER_FLAG = {
  endpoint: () => "Reshifter's -e (--endpoint) is --endpoints URLS here (RS_ETCD_ENDPOINTS)",
  remote: (value: string | true) =>
    `Reshifter's -r (--remote) is the variable RS_S3_ENDPOINT here, with its scheme (${typeof value === 'string' && !value.includes('://') ? `http://${value}` : 'http://host:port'})`,
  bucket: () => "Reshifter's -b (--bucket) is --s3-bucket BUCKET here (RS_S3_BUCKET)",
  backupid: () => "Reshifter's -i (--backupid) is the argument here: restore <id>",
};
const RESHIFTER_FLAGS: Readonly<Record<string, (value: string | true) => string>> = {
  e: RESHIFTER_FLAG.endpoint, endpoint: RESHIFTER_FLAG.endpoint, r: RESHIFTER_FLAG.remote, remote: RESHIFTER_FLAG.remote,
  b: RESHIFTER_FLAG.bucket, bucket: RESHIFTER_FLAG.bucket, i: RESHIFTER_FLAG.backupid, backupid: RESHIFTER_FLAG.backupid,
};

/** `unknown option --jsno for "list" (did you mean --json?)`, or which commands do have it; `-w` named as typed. */
function unknownFlag(table: CommandTable, command: string, name: string, known: readonly FlagSpec[], short: boolean, value: string | true = true): string {
  const typed = `${short ? '-' : '--'}${name}`;
  const reshifter = RESHIFTER_FLAGS[name];
  // `--endpoint` on a command with --endpoints is the plain typo below; `-e` is Reshifter's everywhere.
  if (reshifter !== undefined && !(name === 'endpoint' && known.some((f) => f.name === 'endpoints'))) {
    return `unknown option ${typed} for "${command}": ${reshifter(value)}`;
  }
  if (OUTPUT_FLAGS.has(name)) {
    const json = known.some((f) => f.name === 'json') ? '--json here' : `not needed: ${command} has no other output`;
    return `unknown option ${typed} for "${command}": the JSON output of etcdctl's -w json (kubectl's -o json) is ${json}`;
  }
  // A near spelling, or the one flag that begins so (`--all` for --all-clusters).
  const starting = known.filter((f) => f.name.startsWith(name));
  const near = suggest(name, known.map((f) => f.name)) ?? (name.length >= 2 && starting.length === 1 ? starting[0]!.name : undefined);
  if (near !== undefined) return `unknown option ${typed} for "${command}" (did you mean --${near}?)`;
  const variable = ETCDCTL_FLAGS[name];
  if (variable !== undefined) return `unknown option ${typed} for "${command}": etcdctl's --${name} is the variable ${variable} here`;
  const elsewhere = Object.entries(table.commands).filter(([, c]) => flagsOf(table, c).some((f) => f.name === name)).map(([n]) => n);
  if (elsewhere.length > 0) return `unknown option ${typed} for "${command}" (it is an option of ${elsewhere.join(', ')})`;
  const settings = variablesNamed(name);
  if (settings.length > 0) return `unknown option ${typed} for "${command}": settings are variables here: ${settings.join(' or ')}`;
  return `unknown option ${typed} for "${command}"`;
}
