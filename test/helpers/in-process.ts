import { FLAG_VARIABLES, parseArgs } from '../../src/cli.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigError, OperationError } from '../../src/core/errors.js';
import { createLogger } from '../../src/log.js';
import type { CliResult } from './cli.js';

/**
 * Runs a command in this process the way main.ts does (flags over variables, the same exit codes), without paying
 * for a Node start: for tests that run many commands. Logs are dropped; stderr holds the error message.
 */
// As main.ts does: the AWS SDK's warning about future Node versions is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export async function runInProcess(argv: string[], env: Record<string, string>): Promise<CliResult> {
  let stdout = '';
  try {
    const parsed = parseArgs(argv);
    if (parsed.kind === 'help') throw new Error('help is not supported here');
    const inv = parsed.invocation;
    const overlay: Record<string, string | undefined> = { ...env };
    for (const [flag, variable] of Object.entries(FLAG_VARIABLES)) {
      if (flag === 'strategy' && inv.command !== 'backup') continue;
      const v = inv.args.flags[flag];
      if (typeof v === 'string') overlay[variable] = v;
    }
    const loaded = loadConfig(overlay, { groups: new Set(['general', ...(inv.spec.usesFor?.(inv.args) ?? inv.spec.uses)]) });
    if (loaded.errors) throw new ConfigError(loaded.errors);
    const command = await inv.spec.load();
    await command({
      config: loaded.config,
      log: createLogger('silent'),
      args: inv.args,
      signal: new AbortController().signal,
      print: (line) => (stdout += `${line}\n`),
      // Bytes as latin1, so Buffer.from(stdout, 'latin1') gives them back exactly.
      write: async (bytes) => void (stdout += bytes.toString('latin1')),
    });
    return { code: 0, signal: null, stdout, stderr: '' };
  } catch (err) {
    if (err instanceof ConfigError || err instanceof OperationError) return { code: err.exitCode, signal: null, stdout, stderr: `reshifter: ${err.message}\n` };
    throw err;
  }
}
