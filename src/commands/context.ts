import type { OpContext } from '../ops/context.js';

/** Parsed command line: positionals and `--flag[=value]` options. */
export interface Args {
  positionals: string[];
  flags: Record<string, string | boolean>;
}

/** Everything a command gets; commands never read process.env or call process.exit. */
export interface CommandContext extends OpContext {
  args: Args;
  /** Writes a line of command output to stdout. */
  print: (line: string) => void;
  /** Writes bytes to stdout as they are (`inspect --get KEY --raw`); absent where there is no stdout. */
  write?: (bytes: Buffer) => Promise<void>;
}

export type Command = (ctx: CommandContext) => Promise<void>;
