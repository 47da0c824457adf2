import { statSync } from 'node:fs';

/** etcd's sha256 trailer makes a snapshot file 32 bytes past a multiple of 512 (snapshot/file-source.ts). */
const TRAILER_SIZE = 32;
/** Smaller files are hashed on the main thread (snapshot/trailer.ts): no worker to start. */
const WORKER_THRESHOLD = 16 * 1024 * 1024;

/**
 * `reshifter inspect FILE` (a status: no --keys, --get or --render) is bound by the sha256 of etcd's trailer check,
 * ~0.2 s of one core for 400 MB, hashed on a worker thread from the chunks the page scan reads. A worker takes
 * ~50 ms to start (more with the launcher's V8 heap flags); started here, before the CLI's ~70 ms of modules load,
 * it is ready when the scan reads its first chunk, not ~30 ms after. The command line is not parsed here (that needs
 * the command table): a first word `inspect` and a later word naming a big file with a trailer are enough
 * (wantsHashAhead). A wrong guess costs a thread started for nothing, never a wrong verdict: the worker hashes what
 * the scan hands it, whatever the file. `inspect` starts it too (statusAhead) for a command line of another form; a
 * second start keeps the first.
 */
export async function hashAhead(): Promise<void> {
  // Only the thread's own module (node:worker_threads): node:crypto and the reader's modules load later, with the CLI's.
  const { prestartSha256Worker } = await import('./snapshot/sha256-thread.js');
  prestartSha256Worker();
}

/**
 * Before hashAhead, and before the compile cache is enabled: the launcher's `--initial-old-space-size=64` (main.ts)
 * changes the hash of V8's flags, against which V8 checks every code cache, so a new thread compiled all of Node's
 * own modules from source (~25 ms of CPU, on the way to the first hashed chunk). Set back to V8's default here, once
 * this process's heap has been sized by it (the size stays: no more full collections than with it), the worker
 * takes Node's built-in code cache, and the CLI's modules the compile cache of these flags, which `npm run build`
 * fills too (scripts/warm-compile-cache.mjs). A `status` heap is small: the flag spares it nothing more.
 */
export function useBuiltinCodeCache(): void {
  // Optional: main.ts must start on any Node, to say which one it needs.
  process.getBuiltinModule?.('node:v8').setFlagsFromString('--initial-old-space-size=0');
}

/** Whether the command line is `inspect` of a status of a big snapshot file with a trailer (see hashAhead). */
export function wantsHashAhead(argv: readonly string[]): boolean {
  if (argv[0] !== 'inspect' || argv.some((a) => /^--(keys|get|render)(=|$)/.test(a))) return false;
  return argv.slice(1).some((word) => !word.startsWith('-') && isBigSnapshotFile(word));
}

/** Whether `path` is a regular file big enough for the worker, with a trailer (as trailer.ts decides). */
function isBigSnapshotFile(path: string): boolean {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    return st !== undefined && st.isFile() && st.size % 512 === TRAILER_SIZE && st.size - TRAILER_SIZE >= WORKER_THRESHOLD;
  } catch {
    return false;
  }
}
