// What main.ts runs once it holds early signals: the command, and the exit code it comes to.
import { FLAG_VARIABLES, helpText, parseArgs, usageOf } from './cli.js';
import type { Invocation } from './cli-args.js';
import { loadConfig } from './config/load-config.js';
import type { LogLevel } from './config/types.js';
import type { VariableGroup } from './config/variables.js';
import { AbortedError, ConfigError, OperationError, UsageError } from './core/errors.js';
import { terminalSafe } from './core/printable.js';
import { releaseEarlySignals } from './early-signal.js';
import { settleCleanups } from './exit-cleanup.js';
import { createLogger, type Logger } from './log.js';
import { unsupportedNode } from './runtime.js';
import { outputCutShort, stoppedBy, streamOutput, type Output } from './stdout-output.js';

/** How long an exit waits for cleanups still under way (the abort of a multipart upload). */
const CLEANUP_GRACE_MS = 3000;

/** What a command came to: its exit code, its stdout, and which command it was (when the command line named one). */
interface Outcome {
  code: number;
  output: Output;
  command?: { name: string; sideOutput: boolean };
}

/**
 * Runs one command and returns the process exit code: 0 success, 1 the operation failed, 2 bad configuration or
 * usage, or a Node.js too old to run it (found before any work is done). The only place that turns errors into exit codes.
 */
export async function start(argv: string[], env: Record<string, string | undefined>): Promise<Outcome> {
  let log: Logger | undefined;
  let command: Outcome['command'];
  let stopsUnread = false;
  const output = streamOutput(process.stdout, () => log, () => command?.name, () => stopsUnread);
  const outcome = (code: number, command?: Outcome['command']): Outcome => ({ code, output, ...(command && { command }) });
  const runtime = unsupportedNode(process.version);
  if (runtime !== undefined) {
    process.stderr.write(`reshifter: ${runtime}\n`);
    return outcome(2);
  }
  try {
    const parsed = parseArgs(argv);
    if (parsed.kind === 'help' && parsed.noCommand) {
      process.stderr.write(`reshifter: no command given\n${helpText()}\n`);
      return outcome(2);
    }
    if (parsed.kind === 'help') {
      process.stdout.write(`${helpText(parsed.command)}\n`);
      return outcome(0, { name: 'help', sideOutput: false });
    }
    const inv = parsed.invocation;
    command = { name: inv.command, sideOutput: inv.spec.sideOutput === true };
    stopsUnread = inv.spec.stopsUnread === true;
    // Every variable's syntax is checked; files and folders only of the groups this command reads.
    const groups = new Set<VariableGroup>(['general', ...(inv.spec.usesFor?.(inv.args) ?? inv.spec.uses)]);
    const loaded = loadConfig(withFlags(env, inv), { groups });
    if (loaded.errors) throw new ConfigError(inFlagWords(loaded.errors, inv));
    const { config } = loaded;
    const logger = createLogger(config.logLevel);
    log = logger;
    if (loaded.etcdctl.length > 0 && groups.has('etcd')) logger.info({ variables: loaded.etcdctl }, "etcd connection settings read from etcdctl's variables");
    for (const w of loaded.warnings) logger.warn({ variable: w.variable, detail: w.detail }, w.msg);
    const run = await inv.spec.load();
    // A signal while the CLI loaded (main.ts held it): the command does not start, as it would have been stopped.
    // Released and replaced by the command's handlers in one step, so that no signal falls between the two.
    const early = await releaseEarlySignals();
    const signals = stopOnSignals(logger);
    try {
      if (early !== undefined) throw new AbortedError(`received ${early} before ${inv.command} started; nothing was done`);
      const signal = stopsUnread ? AbortSignal.any([signals.signal, output.readerGone]) : signals.signal;
      await run({ config, log: logger, args: inv.args, signal, print: output.print, write: output.write, backlog: () => output.backlog(signal) });
    } catch (err) {
      // Stopped as no one reads its output (`inspect --keys | head`): done, as `cat` is; as stdout failed (ENOSPC): 1.
      if (output.readerGone.aborted && !signals.signal.aborted) {
        const failed = stoppedBy(output.readerGone, inv.command);
        return outcome(failed ? exitCodeOf(failed, logger, inv.command) : 0, command);
      }
      // A usage error found by the command itself (flags that do not go together) shows its usage too.
      if (err instanceof UsageError && err.command === undefined) throw new UsageError(err.problems, inv.command);
      throw err;
    } finally {
      signals.finished();
    }
    return outcome(0, command);
  } catch (err) {
    return outcome(exitCodeOf(err, log ?? createLogger(quietOf(env)), command?.name), command);
  }
}

/** The level of the logger that says a failure found before the configuration was read: LOG_LEVEL=silent holds. */
function quietOf(env: Record<string, string | undefined>): LogLevel {
  return env.LOG_LEVEL?.trim().toLowerCase() === 'silent' ? 'silent' : 'info';
}

/**
 * The problems of a value a flag gave (`backup --strategy snapshots`) named by that flag, as typed: the variable it
 * stands for was not set, and `RS_BACKUP_STRATEGY was invalid` sent the operator to look for it in the environment.
 */
function inFlagWords(errors: string[], inv: Invocation): string[] {
  const given = Object.entries(FLAG_VARIABLES).filter(([flag]) => typeof inv.args.flags[flag] === 'string' && !(flag === 'strategy' && inv.command !== 'backup'));
  return errors.map((e) => {
    const hit = given.find(([, variable]) => e.startsWith(`${variable} was invalid: `));
    return hit === undefined ? e : `--${hit[0]}${e.slice(hit[1].length)}`;
  });
}

/** The environment with the command line's flags over their variables (validated as those variables). */
function withFlags(env: Record<string, string | undefined>, inv: Invocation): Record<string, string | undefined> {
  const overlay = { ...env };
  for (const [flag, variable] of Object.entries(FLAG_VARIABLES)) {
    // Elsewhere --strategy names a series to read (`list --strategy checkpoint:shop/web/app`), not how to back up.
    if (flag === 'strategy' && inv.command !== 'backup') continue;
    const v = inv.args.flags[flag];
    if (typeof v === 'string') overlay[variable] = v;
  }
  // --backup-dir names the store of this command: a bucket in the environment must not win over it silently.
  if (typeof inv.args.flags['backup-dir'] === 'string') delete overlay.RS_S3_BUCKET;
  return overlay;
}

/** A SIGTERM/SIGINT stopped the command: its output is not waited for at exit (a reader that reads nothing). */
let stoppedBySignal = false;

/**
 * SIGTERM/SIGINT abort the command's signal; a second one exits at once (temporary files go in the 'exit' hook of
 * exit-cleanup.ts; an abort of an upload already sent may finish). Once the command has returned, its exit code
 * stands: a late signal changes nothing.
 */
function stopOnSignals(log: Logger): { signal: AbortSignal; finished(): void } {
  const controller = new AbortController();
  let finished = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (finished) return;
    if (controller.signal.aborted) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      void settleCleanups(CLEANUP_GRACE_MS).then(() => process.exit(1));
      return;
    }
    log.warn({ signal: sig }, 'signal received: stopping');
    stoppedBySignal = true;
    controller.abort(new Error(`received ${sig}`));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return { signal: controller.signal, finished: () => (finished = true) };
}

/**
 * The exit code of an error, said on stderr: our own errors as they are, anything else as a bug. A failure is said
 * twice: one JSON log line (`configuration error`, `command failed`, `command stopped`, with the command and exit
 * code), the event a log pipeline (a pod's, journald's) reads, then the text for a terminal's reader, whose problems
 * take a line each. A usage error (a word mistyped at a terminal) is the text alone.
 */
function exitCodeOf(err: unknown, log: Logger, commandName: string | undefined): number {
  const command = commandName !== undefined ? { command: commandName } : {};
  if (err instanceof UsageError) {
    const usage = err.command === undefined ? ['run "reshifter help" for the commands'] : [...usageOf(err.command), `run "reshifter help ${err.command}" for its options`];
    process.stderr.write(`reshifter: usage error:\n${err.problems.map((p) => `  - ${terminalSafe(p)}`).join('\n')}\n${usage.join('\n')}\n`);
    return err.exitCode;
  }
  if (err instanceof ConfigError) {
    log.error({ ...command, exitCode: err.exitCode, problems: err.problems }, 'configuration error');
    process.stderr.write(`reshifter: configuration error:\n${err.problems.map((p) => `  - ${terminalSafe(p)}`).join('\n')}\n`);
    return err.exitCode;
  }
  if (err instanceof OperationError) {
    // Stopped (SIGTERM/SIGINT) is not failed: the command says which (`verify ... stopped`, never that a check failed).
    if (err instanceof AbortedError) log.warn({ ...command, exitCode: err.exitCode, err: err.message }, 'command stopped');
    else log.error({ ...command, exitCode: err.exitCode, err: err.message }, 'command failed');
    process.stderr.write(`reshifter: ${terminalSafe(err.message)}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  log.error({ ...command, exitCode: 1, err: `unexpected error (this is a bug): ${message}` }, 'command failed');
  process.stderr.write(`reshifter: unexpected error (this is a bug): ${terminalSafe(message)}\n`);
  log.debug({ stack: err instanceof Error ? err.stack : undefined }, 'unexpected error');
  return 1;
}

/** Resolves once what was written to `stream` has been handed to the OS (or the stream can take no more). */
function delivered(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('error', () => resolve());
    stream.write('', () => resolve());
  });
}

const { code: commandCode, output, command } = await start(process.argv.slice(2), process.env);
let code = commandCode;
// The command has returned, so its temporary files are gone (and the 'exit' hook removes any left); a cleanup still
// under way gets its grace first, and output still queued for a slow reader (a listing larger than the pipe) is
// delivered. Then an explicit exit: lingering gRPC or HTTP handles must not keep a finished one-off command alive,
// and a natural exit closes the signal handlers while it tears down, so that a SIGTERM in those milliseconds killed
// a process whose backup was stored (the pod saw a failure). A signal while the output waits for its reader exits
// with the command's code at once. pino flushes in the 'exit' hook.
await settleCleanups(CLEANUP_GRACE_MS);
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(code));
const [stdoutFailed] = await Promise.all([stoppedBySignal ? undefined : output.finish(), delivered(process.stderr)]);
// A stdout that failed (a full disk under `> file`) left what was asked for cut short: `list --json > backups.json`
// must not exit 0 with half a file. A backup's printed lines are a by-product; its exit code says how the backup went.
if (code === 0 && stdoutFailed !== undefined && command !== undefined && !command.sideOutput) {
  process.stderr.write(`reshifter: ${outputCutShort(command.name, stdoutFailed, true)}\n`);
  code = 1;
}
process.exit(code);
