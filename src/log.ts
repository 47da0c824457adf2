import pino, { type Logger } from 'pino';
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
 */
export function createLogger(level: LogLevel, destination: pino.DestinationStream = pino.destination({ dest: 2, sync: true })): Logger {
  return pino(
    {
      level,
      base: { name: 'reshifter' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
