import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';

/**
 * What every operation gets: the configuration, a logger (the caller's, with its bindings such as the backup id)
 * and the signal that stops it (SIGTERM/SIGINT for a command, the job's for the API). Operations never print, read
 * argv or the environment: a command or an API route does that around them.
 */
export interface OpContext {
  config: Config;
  log: Logger;
  signal: AbortSignal;
}
