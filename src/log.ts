import pino, { type Logger } from 'pino';
import type { LogLevel } from './config/types.js';

export type { Logger };

/** Paths pino replaces with "[redacted]" wherever they appear in a log object, at any level. */
export const REDACT_PATHS = [
  'password', '*.password', '*.*.password',
  'secretAccessKey', '*.secretAccessKey', '*.*.secretAccessKey',
  'passphrase', '*.passphrase', '*.*.passphrase',
  'identity', '*.identity', '*.*.identity',
  'apiToken', '*.apiToken', '*.*.apiToken',
  'authorization', '*.authorization', '*.headers.authorization',
  'token', '*.token',
];

/**
 * The process logger: pino JSON lines on stderr, so stdout stays for command output (`list --json`).
 * One child per component (`log.child({ component: 'store' })`).
 */
export function createLogger(level: LogLevel, destination: pino.DestinationStream = pino.destination(2)): Logger {
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
