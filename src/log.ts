import { createRequire } from 'node:module';
import type pino from 'pino';
import type { Logger } from 'pino';
import type { LogLevel } from './config/types.js';
import { VARIABLES } from './config/variables.js';

export type { Logger };

/** The Config fields of the secret variables (config/variables.ts): `password`, `secretAccessKey`, ... */
const SECRET_FIELDS = VARIABLES.filter((v) => v.secret).map((v) => v.field.split('.').pop()!);

/**
 * Paths pino replaces with "[redacted]" wherever they appear in a log object, at any level: every secret variable's
 * field (a config logged whole, or a part of it), and HTTP credentials.
 */
export const REDACT_PATHS = [
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
  'authorization', '*.authorization', '*.headers.authorization',
  'token', '*.token',
];

/**
 * The process logger: pino JSON lines on stderr, so stdout stays for command output (`list --json`).
 * One child per component (`log.child({ component: 'store' })`). Written synchronously, as stderr is: an
 * asynchronous write still in flight when the process exits lands after the lines flushed at exit, so a file
 * (cron's `2>>log`) got its lines out of order, the closing message no longer last. Log lines are few.
 *
 * pino (and its ~25 modules, ~20 ms of a start) loads when the logger is first used, not when it is made: a command
 * that logs nothing on success (`inspect FILE`, `version`) never loads it (lazyLogger).
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return lazyLogger(() => {
    const load = createRequire(import.meta.url)('pino') as typeof pino;
    return load(
      {
        level,
        base: { name: 'reshifter' },
        timestamp: load.stdTimeFunctions.isoTime,
        redact: { paths: REDACT_PATHS, censor: '[redacted]' },
        formatters: { level: (label) => ({ level: label }) },
      },
      destination ?? load.destination({ dest: 2, sync: true }),
    );
  });
}

/**
 * A Logger that makes the real one (`make`) at its first use, whatever the use (a call, a child, a property), and
 * is that logger from then on: every property is the real logger's (its methods bound to it).
 */
function lazyLogger(make: () => Logger): Logger {
  let real: Logger | undefined;
  const target = (): Logger => (real ??= make());
  return new Proxy({} as Logger, {
    get(_, prop) {
      const r = target();
      const value: unknown = Reflect.get(r, prop, r);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(r) : value;
    },
    set: (_, prop, value) => Reflect.set(target(), prop, value),
    has: (_, prop) => Reflect.has(target(), prop),
    getPrototypeOf: () => Reflect.getPrototypeOf(target()),
  });
}
