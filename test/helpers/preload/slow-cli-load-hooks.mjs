// Module hooks of slow-cli-load.mjs (they run on a thread of their own).
import { writeFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (/\/dist\/cli\.js$/.test(resolved.url) && process.env.RESHIFTER_TEST_LOAD_MARKER) {
    writeFileSync(process.env.RESHIFTER_TEST_LOAD_MARKER, 'loading');
    await new Promise((r) => setTimeout(r, Number(process.env.RESHIFTER_TEST_HOLD_MS ?? 2000)));
  }
  return resolved;
}
