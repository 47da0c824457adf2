import type { Writable } from 'node:stream';
import { noRoomReason } from './archive/work-area.js';
import { OperationError } from './core/errors.js';
import type { Logger } from './log.js';

/** The command output functions of CommandContext, over a stream (process.stdout). */
export interface Output {
  print: (line: string) => void;
  write: (bytes: Buffer) => Promise<void>;
  /**
   * Waits until what was printed has been handed to the OS (or stdout can take no more), and returns how stdout
   * failed when it failed for another reason than its reader going away: a full disk under `> file` (ENOSPC), EIO.
   */
  finish: () => Promise<NodeJS.ErrnoException | undefined>;
  /**
   * Aborted when stdout's reader went away (EPIPE on a printed line), or stdout failed otherwise (ENOSPC under
   * `> file`), and `stopsUnread` said the command stops then: a command whose output is all it does, reading and
   * changing nothing (`inspect --keys | head`), need not read a whole snapshot or etcd for no one. Its reason is
   * stdout's error (see `stoppedBy`).
   */
  readerGone: AbortSignal;
  /**
   * A promise while stdout holds more printed output than BACKLOG_BYTES its reader has not taken (`| less`, a slow
   * consumer), resolved once it has (or stdout is gone, or `signal` aborted: a SIGTERM must not wait for a reader);
   * undefined when it can take more. A listing that awaits it keeps its memory flat whatever it lists.
   */
  backlog: (signal?: AbortSignal) => Promise<void> | undefined;
}

/**
 * The failure a command stopped at when its `readerGone` aborted: undefined for a reader that went away (EPIPE: done,
 * exit 0, as `cat` is), else an OperationError saying its output is cut short (exit 1).
 */
export function stoppedBy(readerGone: AbortSignal, command: string): OperationError | undefined {
  const err = readerGone.reason as NodeJS.ErrnoException;
  return err.code === 'EPIPE' ? undefined : new OperationError(outputCutShort(command, err, false), { cause: err });
}

/**
 * Says once how stdout failed, and what `stops` (the command, when its output is all it does) does then. A reader that
 * stops reading is normal (`| head`); any other failure of stdout is worth a warning. A command whose output is all it
 * does stops at either: a full disk under `> file` must not have it read the rest of a snapshot for output that cannot
 * be written (readerGone's reason is the failure, for cli-main.ts to say and exit 1 on).
 */
function sayClosed(l: Logger | undefined, err: NodeJS.ErrnoException, stops: string | undefined): void {
  const what = err.code === 'EPIPE' ? 'stdout was closed by its reader' : noRoomReason(err) !== undefined ? 'stdout is full' : 'stdout failed';
  if (err.code === 'EPIPE' && stops !== undefined) l?.info(`${what}: ${stops} stops, as it has no one to print for`);
  else if (err.code === 'EPIPE') l?.info(`${what}: no more output is printed; the command goes on`);
  else if (stops !== undefined) l?.warn({ err: err.message, code: err.code }, `${what}: ${stops} stops, as its output cannot be written`);
  else l?.warn({ err: err.message, code: err.code }, `${what}: no more output is printed; the command goes on`);
}

/** Printed output stdout may hold for its reader before a listing waits for it. */
export const BACKLOG_BYTES = 1024 * 1024;

/**
 * Command output that outlives its reader. When stdout goes away (`reshifter backup --strategy render | head`: the
 * reader closed the pipe, EPIPE), nothing the command does changes: `print` becomes a no-op, said once in the log,
 * and the backup goes on, is stored, and the exit code says how it went. Lines are side output (a render listing,
 * the id of the new backup); the backup is the product. `write` is different: its bytes are the product
 * (`inspect --get KEY --raw`), so a reader gone before they were all taken fails it, exit 1, as `cat` fails on a
 * closed pipe (or on a full disk). A stdout that fails otherwise (`reshifter list --json > backups.json` on a full
 * disk) has left a file cut short: `finish` returns that failure, for cli-main.ts to fail the commands whose output is
 * what was asked for. Both say it in the words of outputCutShort; `command` names the command for them.
 */
export function streamOutput(stream: Writable, log: () => Logger | undefined, command: () => string | undefined, stopsUnread: () => boolean = () => false): Output {
  let gone: NodeJS.ErrnoException | undefined;
  const readerGone = new AbortController();
  const closed = (err: NodeJS.ErrnoException, quiet = false) => {
    if (gone) return;
    gone = err;
    // A failed `write` is the command's failure, said as its error: 'the command goes on' would be untrue.
    if (quiet) return;
    sayClosed(log(), err, stopsUnread() ? command() ?? 'the command' : undefined);
    if (stopsUnread()) readerGone.abort(err);
  };
  // Without a listener an 'error' of stdout would be thrown from the event loop and end the process mid-backup.
  stream.on('error', (err: NodeJS.ErrnoException) => closed(err));
  const notDelivered = (err: NodeJS.ErrnoException) => new OperationError(outputCutShort(command() ?? 'reshifter', err, false), { cause: err });
  let peakBacklog = 0;
  return {
    readerGone: readerGone.signal,
    print(line) {
      if (gone || stream.destroyed) return;
      stream.write(`${line}\n`);
      // A file's stdout (`> file`) writes at once: its failure is known now, while 'error' comes on a later tick, which
      // a listing that reads a file without waiting for anything else would reach only at its end.
      if (stream.errored) closed(stream.errored as NodeJS.ErrnoException);
      if (stream.writableLength > peakBacklog) peakBacklog = stream.writableLength;
    },
    backlog(signal) {
      return gone || stream.destroyed || stream.writableLength <= BACKLOG_BYTES ? undefined : drained(stream, signal);
    },
    write(bytes) {
      if (gone) return Promise.reject(notDelivered(gone));
      return new Promise<void>((resolve, reject) =>
        stream.write(bytes, (err) => {
          if (!err) return resolve();
          closed(err, true);
          reject(notDelivered(err));
        }),
      );
    },
    async finish() {
      // A failed write says so in a callback, and the stream's 'error' follows on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
      if (!gone && stream.writableLength > 0 && !stream.destroyed) {
        // Writes still queued for a slow reader: their end. A write that fails has the writes queued behind it
        // called back with ERR_STREAM_DESTROYED before 'error' names the cause, so the cause is awaited first.
        const late = await new Promise<Error | null | undefined>((resolve) => stream.write('', resolve));
        await new Promise((resolve) => setImmediate(resolve));
        if (late) closed(late);
      }
      // Said only when the reader fell behind by more than a pipe holds (64 KiB): a listing that waited for it.
      if (peakBacklog > 64 * 1024) log()?.debug({ peakBytes: peakBacklog }, 'stdout backlog');
      return gone && gone.code !== 'EPIPE' ? gone : undefined;
    },
  };
}

/** Resolves once `stream` has handed all it holds to the OS, or can take no more (closed, failed), or `signal` aborts. */
function drained(stream: Writable, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      for (const e of ['drain', 'close', 'error']) stream.off(e, done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    for (const e of ['drain', 'close', 'error']) stream.once(e, done);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Why stdout failed, in the words of every command: 'stdout was closed by its reader (EPIPE)', 'stdout is full
 * (ENOSPC: no space left on the device)' (a full disk, a quota, a file size limit under `> file`), or 'stdout failed
 * (EIO: i/o error)'.
 */
function stdoutFailure(err: NodeJS.ErrnoException): string {
  if (err.code === 'EPIPE') return 'stdout was closed by its reader (EPIPE)';
  const noRoom = noRoomReason(err);
  if (noRoom !== undefined) return `stdout is full (${err.code}: ${noRoom})`;
  return `stdout failed (${err.code ?? 'error'}: ${err.message.replace(/^\w+: /, '').replace(/, write$/, '')})`;
}

/**
 * The one sentence for output cut short by `err`, whether `command` completed its work and only its output was lost
 * (`list --json > file` on a full disk) or its output was the work (`inspect --get KEY --raw`).
 */
export function outputCutShort(command: string, err: NodeJS.ErrnoException, completed: boolean): string {
  return `${command} ${completed ? 'completed, but ' : ''}could not write its output in full: ${stdoutFailure(err)}; what was written is incomplete`;
}
