import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/log.js';
import { reportProgress } from '../../src/progress.js';

/**
 * Before: each phase of a command counted its 5 s on its own, so `stats <id>` of a 315 MiB snapshot from S3 (a
 * download, a decode and a walk of 2-4 s each) logged `reading backup ...` and then nothing for 8 s, until it printed
 * its report; a diff of two such backups was silent for 6 s between its lines. Now the next phase goes on counting the
 * silence the one before left: a line comes 5 s after the last, whichever phase runs then. The interval timer and the
 * clock are faked; the logger is the real one.
 */
let tests = 0;
let lines: Array<{ msg: string; what?: string }>;
const log = () => createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l) as { msg: string; what?: string }) });

beforeEach(() => {
  lines = [];
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
  // A minute after the test before: the silence its last phase left is not this test's.
  vi.setSystemTime(Date.now() + 60_000 * ++tests);
});
afterEach(() => vi.useRealTimers());

const progress = () => lines.filter((l) => l.msg === 'progress').map((l) => l.what);

it('a phase that follows one at once reports 5 s after the last line, not 5 s after its own start', () => {
  const logger = log();
  const stopDownload = reportProgress(logger, 'download', () => ({ bytes: 1 }));
  vi.advanceTimersByTime(4000);
  stopDownload();
  const stopDecode = reportProgress(logger, 'decode', () => ({ bytes: 2 }));
  vi.advanceTimersByTime(3000);
  stopDecode();
  const stopWalk = reportProgress(logger, 'stats', () => ({ bytes: 3, keys: 3 }));
  vi.advanceTimersByTime(4000);
  stopWalk();
  // 11 s in all: a line at 5 s (in decode) and at 10 s (in the walk).
  expect(progress()).toEqual(['decode', 'stats']);
});

it('a phase started before the one before it stopped (a stream closed after the next step began) takes over its silence', () => {
  const logger = log();
  const stopDownload = reportProgress(logger, 'download', () => ({ bytes: 1 }));
  vi.advanceTimersByTime(4000);
  const stopDecode = reportProgress(logger, 'decode', () => ({ bytes: 2 }));
  stopDownload();
  vi.advanceTimersByTime(1000);
  stopDecode();
  expect(progress()).toEqual(['decode']);
});

it('a phase alone still reports every 5 s, and none that lasts less', () => {
  const logger = log();
  const stop = reportProgress(logger, 'restore', () => ({ bytes: 1, keys: 1 }));
  vi.advanceTimersByTime(4000);
  expect(progress()).toEqual([]);
  vi.advanceTimersByTime(6000);
  stop();
  expect(progress()).toEqual(['restore', 'restore']);
});
