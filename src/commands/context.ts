import { AbortedError, describeError } from '../core/errors.js';
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
  /**
   * A promise while stdout's reader is behind by more than a buffer (`| less`), undefined otherwise: a long listing
   * awaits it now and then, so that its rows wait in the reader's pipe and not in this process's memory.
   */
  backlog?: () => Promise<void> | undefined;
}

/** Every this many rows a listing lets a slow reader catch up (CommandContext.backlog). */
const ROWS_PER_LOOK = 256;

/**
 * Counts printed rows and, every ROWS_PER_LOOK, waits while stdout's reader is behind. With `stops` (a listing whose
 * output is all it does), it first stops, with an AbortedError, once the command's signal was aborted: stdout failed
 * (a full disk under `> file`) under a listing that reads a file and has nothing else to wait for.
 */
export function rowPacer(ctx: Pick<CommandContext, 'backlog' | 'signal'>, stops = false): () => Promise<void> | undefined {
  let rows = 0;
  return () => {
    if (++rows % ROWS_PER_LOOK !== 0) return undefined;
    if (stops && ctx.signal.aborted) throw new AbortedError(`listing stopped: ${describeError(ctx.signal.reason)}`, { cause: ctx.signal.reason });
    return ctx.backlog?.();
  };
}

export type Command = (ctx: CommandContext) => Promise<void>;
