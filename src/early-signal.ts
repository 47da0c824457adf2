/**
 * SIGTERM/SIGINT before the command's own handlers exist. Node's default for them kills the process at once (exit
 * 143 or 130, no word), and loading the CLI's modules takes a moment (~0.4 s; the AWS SDK more): a pod deleted right
 * after it started saw another outcome than one deleted a moment later. main.ts holds them from its first line; the
 * command refuses to start when one came. Imports nothing, so that it is loaded before anything else.
 */
let first: NodeJS.Signals | undefined;
const hold = (sig: NodeJS.Signals) => {
  first ??= sig;
};

/** From now on a SIGTERM/SIGINT is recorded, not fatal. */
export function holdEarlySignals(): void {
  process.on('SIGTERM', hold);
  process.on('SIGINT', hold);
}

/**
 * Stops holding, for the command's own handlers to be registered at once (no await between); the signal that came
 * meanwhile, if any. Modules load without turning the event loop, so a signal that came then still waits in it: one
 * turn delivers it first.
 */
export async function releaseEarlySignals(): Promise<NodeJS.Signals | undefined> {
  await new Promise((resolve) => setImmediate(resolve));
  process.off('SIGTERM', hold);
  process.off('SIGINT', hold);
  return first;
}
