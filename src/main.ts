#!/usr/bin/env -S node --max-semi-space-size=2 --disable-warning=DEP0123
// A small young generation keeps the RSS of long streams low (README, Performance). grpc-js names an IP endpoint as
// the TLS server name, which Node answers with deprecation DEP0123 on every connection to https://<ip>:2379 (kubeadm's
// etcd): a warning operators can do nothing about. The image passes the same flags.
import { FLAG_VARIABLES, parseArgs, usage } from './cli.js';
import { loadConfig } from './config/load-config.js';
import { ConfigError, OperationError } from './core/errors.js';
import { settleCleanups } from './exit-cleanup.js';
import { createLogger, type Logger } from './log.js';
import { streamOutput } from './stdout-output.js';

/** How long an exit waits for cleanups still under way (the abort of a multipart upload). */
const CLEANUP_GRACE_MS = 3000;

/**
 * Runs one command and returns the process exit code: 0 success, 1 the operation failed, 2 bad configuration or
 * usage (found before any work is done). The only place that turns errors into exit codes.
 */
export async function start(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  let log: Logger | undefined;
  const output = streamOutput(process.stdout, () => log);
  try {
    const inv = parseArgs(argv);
    if (inv === 'help') {
      process.stdout.write(`${usage()}\n`);
      return 0;
    }
    // Flags override their variables, and are validated as those variables.
    const overlay = { ...env };
    for (const [flag, variable] of Object.entries(FLAG_VARIABLES)) {
      const v = inv.args.flags[flag];
      if (typeof v === 'string') overlay[variable] = v;
    }
    const loaded = loadConfig(overlay);
    if (loaded.errors) throw new ConfigError(loaded.errors);
    const { config } = loaded;
    const logger = createLogger(config.logLevel);
    log = logger;
    const command = await inv.spec.load();
    const signals = stopOnSignals(logger);
    try {
      await command({ config, log: logger, args: inv.args, signal: signals.signal, print: output.print, write: output.write });
    } finally {
      signals.finished();
    }
    return 0;
  } catch (err) {
    return exitCodeOf(err, log);
  }
}

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
    controller.abort(new Error(`received ${sig}`));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return { signal: controller.signal, finished: () => (finished = true) };
}

/** The exit code of an error, said on stderr: our own errors as they are, anything else as a bug. */
function exitCodeOf(err: unknown, log: Logger | undefined): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`reshifter: configuration error:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
    return err.exitCode;
  }
  if (err instanceof OperationError) {
    process.stderr.write(`reshifter: ${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`reshifter: unexpected error (this is a bug): ${err instanceof Error ? err.message : String(err)}\n`);
  log?.debug({ stack: err instanceof Error ? err.stack : undefined }, 'unexpected error');
  return 1;
}

// The AWS SDK warns on every start under Node 20 about its future releases; the pinned version works, and the
// warning would pollute output operators parse. Node 22+ (the container image) never shows it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const code = await start(process.argv.slice(2), process.env);
process.exitCode = code;
// Lingering gRPC or HTTP handles must not keep a finished one-off command alive. The command has returned, so its
// temporary files are gone (and the 'exit' hook removes any left); a cleanup still under way gets its grace first.
await settleCleanups(CLEANUP_GRACE_MS);
setTimeout(() => process.exit(code), 2000).unref();
