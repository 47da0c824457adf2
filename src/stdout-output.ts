import type { Writable } from 'node:stream';
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
}

/**
 * Command output that outlives its reader. When stdout goes away (`reshifter backup --strategy render | head`: the
 * reader closed the pipe, EPIPE), nothing the command does changes: `print` becomes a no-op, said once in the log,
 * and the backup goes on, is stored, and the exit code says how it went. Lines are side output (a render listing,
 * the id of the new backup); the backup is the product. `write` is different: its bytes are the product
 * (`inspect --get KEY --raw`), so a reader gone before they were all taken fails it, exit 1, as `cat` fails on a
 * closed pipe. A stdout that fails otherwise (`reshifter list --json > backups.json` on a full disk) has left a
 * file cut short: `finish` returns that failure, for cli-main.ts to fail the commands whose output is what was asked for.
 */
export function streamOutput(stream: Writable, log: () => Logger | undefined): Output {
  let gone: NodeJS.ErrnoException | undefined;
  const closed = (err: NodeJS.ErrnoException) => {
    if (gone) return;
    gone = err;
    const l = log();
    // A reader that stops reading is normal (`| head`); any other failure of stdout is worth a warning.
    if (err.code === 'EPIPE') l?.info('stdout was closed by its reader: no more output is printed; the command goes on');
    else l?.warn({ err: err.message, code: err.code }, 'stdout failed: no more output is printed; the command goes on');
  };
  // Without a listener an 'error' of stdout would be thrown from the event loop and end the process mid-backup.
  stream.on('error', closed);
  const notDelivered = (err: NodeJS.ErrnoException) =>
    new OperationError(`stdout was closed before the output was written in full (${err.code ?? err.message})`, { cause: err });
  return {
    print(line) {
      if (gone || stream.destroyed) return;
      stream.write(`${line}\n`);
    },
    write(bytes) {
      if (gone) return Promise.reject(notDelivered(gone));
      return new Promise<void>((resolve, reject) =>
        stream.write(bytes, (err) => {
          if (!err) return resolve();
          closed(err);
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
      return gone && gone.code !== 'EPIPE' ? gone : undefined;
    },
  };
}
