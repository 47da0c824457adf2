import { rmSync } from 'node:fs';

/**
 * What must not outlive the process: temporary files and folders, and cleanups still under way (the abort of a
 * multipart upload). Code that makes a temporary path registers it here and releases it once it is gone; whatever is
 * still registered when the process exits (a second signal, the safety timer in main.ts, any process.exit) is
 * removed synchronously by the 'exit' hook. Only SIGKILL can leave one behind.
 */
const tempPaths = new Set<string>();
const pending = new Set<Promise<unknown>>();
let hooked = false;

function removeAllSync(): void {
  for (const path of tempPaths) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Exiting: there is no one left to tell, and the other paths must still go.
    }
  }
  tempPaths.clear();
}

/** Registers a temporary file or folder; call the returned function once it has been removed or renamed into place. */
export function trackTempPath(path: string): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', removeAllSync);
  }
  tempPaths.add(path);
  return () => {
    tempPaths.delete(path);
  };
}

/** Registers a cleanup under way, so that an exit waits for it (see `settleCleanups`). Returns the same promise. */
export function trackCleanup<T>(p: Promise<T>): Promise<T> {
  pending.add(p);
  const done = () => pending.delete(p);
  p.then(done, done);
  return p;
}

/** Waits for the cleanups under way, at most `timeoutMs`; never throws. */
export async function settleCleanups(timeoutMs: number): Promise<void> {
  if (pending.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled([...pending]),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
}
