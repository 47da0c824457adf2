import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';

/** Parsed command line: positionals and `--flag[=value]` options. */
export interface Args {
  positionals: string[];
  flags: Record<string, string | boolean>;
}

/** Everything a command gets; commands never read process.env or call process.exit. */
export interface CommandContext {
  config: Config;
  log: Logger;
  args: Args;
  /** Aborted on SIGTERM/SIGINT. */
  signal: AbortSignal;
  /** Writes a line of command output to stdout. */
  print: (line: string) => void;
  /** Writes bytes to stdout as they are (`inspect --get KEY --raw`); absent where there is no stdout (API jobs). */
  write?: (bytes: Buffer) => Promise<void>;
}

export type Command = (ctx: CommandContext) => Promise<void>;
