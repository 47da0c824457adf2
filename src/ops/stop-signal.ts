/**
 * `signal` for a reader that stops by throwing the reason of its signal (the offline snapshot reader's walks): a
 * signal that aborts with it, its reason `stopped()`, so that the walk cut off by SIGTERM/SIGINT says the command's
 * own words ('inspect of backup <id> stopped: received SIGTERM'), not the bare reason, which reads as a bug.
 */
export function stopSignal(signal: AbortSignal, stopped: () => Error): AbortSignal {
  if (signal.aborted) return AbortSignal.abort(stopped());
  const controller = new AbortController();
  signal.addEventListener('abort', () => controller.abort(stopped()), { once: true });
  return controller.signal;
}
