import type { Writable } from 'node:stream';
import { OperationError } from './core/errors.js';
import type { Logger } from './log.js';

/** The command output functions of CommandContext, over a stream (process.stdout). */
export interface Output {
  print: (line: string) => void;
  write: (bytes: Buffer) => Promise<void>;
}

/**
 * Command output that outlives its reader. When stdout goes away (`reshifter backup --strategy render | head`: the
 * reader closed the pipe, EPIPE), nothing the command does changes: `print` becomes a no-op, said once in the log,
 * and the backup goes on, is stored, and the exit code says how it went. Lines are side output (a render listing,
 * the id of the new backup); the backup is the product. `write` is different: its bytes are the product
 * (`inspect --get KEY --raw`), so a reader gone before they were all taken fails it, exit 1, as `cat` fails on a
 * closed pipe.
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
  };
}
