#!/usr/bin/env -S node --max-semi-space-size=2 --initial-old-space-size=64 --disable-warning=DEP0123
// A small young generation keeps the RSS of long streams low (bench/results/HISTORY.md); a first old-generation limit of
// 64 MB spares the ~10 full collections V8 otherwise makes while the heap is at its working size of ~20 MB (a snapshot
// to S3: 4.2 -> 3.4 CPU-s, the same RSS). That flag, unlike the young generation's, changes the V8 flag hash that keys
// Node's built-in code cache, so Node compiles its own modules from source at every start and a worker thread starts
// in ~50 ms instead of ~25. Measured against its saving on 2026-12-07 (bench/launcher-flags-ab.mjs, 100k keys /
// 300 MB, 16 alternating rounds, median paired CPU-s without it): local snapshot +0.08, to S3 +0.28, raw dump +0.57,
// `inspect FILE` -0.02, a backup of an empty etcd -0.01. It pays. v8.setFlagsFromString at start does not take its
// place (the heap is configured by then: as many full collections as without), nor does a larger young generation
// (more of them). grpc-js names an IP endpoint as the TLS server name, which Node answers with deprecation DEP0123 on
// every connection to https://<ip>:2379 (kubeadm's etcd): a warning operators can do nothing about. The image passes
// the same flags.
//
// The entry point: SIGTERM/SIGINT are held from here on, before the rest of the CLI loads (early-signal.ts); then
// cli-main.ts runs the command and sets the exit code. The hashing thread of `inspect FILE` starts before the CLI
// loads, with the initial old-space size back at V8's default once this heap has it (early-hash.ts).
import module from 'node:module';
import { fileURLToPath } from 'node:url';
import { hashAhead, useBuiltinCodeCache, wantsHashAhead } from './early-hash.js';
import { holdEarlySignals } from './early-signal.js';

dropIpServerNameWarning();
holdEarlySignals();
const hashing = wantsHashAhead(process.argv.slice(2));
if (hashing) useBuiltinCodeCache();
useCompileCache();
// `inspect FILE` reaches no etcd. Imported, not static: its node:crypto, compiled before useBuiltinCodeCache, would
// have left the worker a code cache of the other flags for it.
if (hashing) await hashAhead();
else (await import('./etcd/etcd3-proto.js')).preloadEtcd3Proto();
await import('./cli-main.js');

/**
 * Node's compile cache in dist/compile-cache/, which `npm run build` fills (scripts/warm-compile-cache.mjs): the
 * modules of a command are not compiled again at every start (~25 ms of CPU of a backup; README, Performance). The
 * folder belongs to the install, never the shared /tmp (Node's default), where another user could leave code for it
 * to load. Read-only (the image), missing or unusable, Node runs without it and says nothing; NODE_COMPILE_CACHE, when
 * set, is Node's own and wins; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
function useCompileCache(): void {
  try {
    module.enableCompileCache?.({ directory: fileURLToPath(new URL('compile-cache', import.meta.url)), portable: true });
  } catch {
    // A Node without the option object (main.ts must start on any Node, to say which one it needs): no cache.
  }
}

/**
 * `node dist/main.js` (README's way to run the built CLI) and `npx reshifter` skip the flags of the line above, and
 * Node printed DEP0123 as bare text among the JSON log lines of every command that reaches etcd over TLS at an IP.
 * Only that warning is dropped; every other one is Node's as before.
 */
function dropIpServerNameWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const [, typeOrOptions, code] = args;
    const given = typeof typeOrOptions === 'object' && typeOrOptions !== null ? (typeOrOptions as { code?: unknown }).code : code;
    if (given !== 'DEP0123') emit(...args);
  }) as typeof process.emitWarning;
}
