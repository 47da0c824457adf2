// Preloaded with NODE_OPTIONS=--import (plain JavaScript: Node runs it as it is): a slow disk under the offline
// snapshot reader. Every read through a file handle opened (fs/promises open) on a path that the regular expression
// RESHIFTER_TEST_SLOW_READS matches waits RESHIFTER_TEST_READ_DELAY_MS first, and the first such read writes
// RESHIFTER_TEST_READ_MARKER; other files read at full speed. A walk of a test's small snapshot then takes seconds,
// so that a test can signal the command mid-walk, which otherwise takes a fraction of a second.
import { writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';

const slow = new RegExp(process.env.RESHIFTER_TEST_SLOW_READS ?? '(?!)');
const delayMs = Number(process.env.RESHIFTER_TEST_READ_DELAY_MS ?? 200);
const marker = process.env.RESHIFTER_TEST_READ_MARKER;
const handles = new WeakSet();

const open = fs.open;
fs.open = async (path, ...rest) => {
  const handle = await open(path, ...rest);
  if (slow.test(String(path))) handles.add(handle);
  return handle;
};
// `import { open } from 'node:fs/promises'` in the CLI's modules sees the wrapper.
syncBuiltinESMExports();

const probe = await open(new URL(import.meta.url), 'r');
const FileHandle = Object.getPrototypeOf(probe);
await probe.close();
const read = FileHandle.read;
let marked = false;
FileHandle.read = async function (...args) {
  if (handles.has(this)) {
    if (!marked && marker) writeFileSync(marker, 'reading');
    marked = true;
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  return read.apply(this, args);
};
