// Fills dist/compile-cache/ (Node's compile cache, module.enableCompileCache) after `tsc`: every module of dist/ and
// the dependencies they import, compiled once here, so that a command does not compile them again at every start
// (~25 ms of CPU of a backup; README, Performance). V8 keys the cache by its flags, so the modules are compiled under
// the flags of dist/main.js's first line, which the launcher and the image pass. main.ts enables the same folder.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const cache = join(dist, 'compile-cache');
const flags = readFileSync(join(dist, 'main.js'), 'utf8').split('\n')[0].split(/\s+/).slice(3);
// main.js and cli-main.js run the CLI when imported (`version` below compiles them); the rest only define things.
const runs = ['main.js', 'cli-main.js'];
const modules = readdirSync(dist, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.js') && !runs.includes(f) && !f.startsWith('compile-cache') && !f.startsWith('server/ui/assets'))
  .map((f) => join(dist, f));
// `inspect FILE` sets the initial old-space size back to V8's default before it enables the cache (early-hash.ts):
// another flag hash, so another folder of the cache, filled the same way.
const RESET = "process.getBuiltinModule('node:v8').setFlagsFromString('--initial-old-space-size=0');";
const script = (reset) => `
${reset ? RESET : ''}
import { enableCompileCache, flushCompileCache } from 'node:module';
enableCompileCache({ directory: ${JSON.stringify(cache)}, portable: true });
for (const m of ${JSON.stringify(modules)}) await import(m);
flushCompileCache();`;
// The cache of this build only: a variable that points Node's compile cache elsewhere (or turns it off) does not apply.
const env = { ...process.env };
delete env.NODE_COMPILE_CACHE;
delete env.NODE_DISABLE_COMPILE_CACHE;
rmSync(cache, { recursive: true, force: true });
execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script(false)], { stdio: 'inherit', env });
execFileSync(process.execPath, [...flags, join(dist, 'main.js'), 'version'], { stdio: 'ignore', env });
execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script(true)], { stdio: 'inherit', env });
// The modules main.ts loads, as `inspect` of a big file with a trailer loads them: a sparse one (nothing written),
// which inspect refuses (exit 1) once its modules are compiled.
const scratch = mkdtempSync(join(tmpdir(), 'reshifter-warm-'));
try {
  const file = join(scratch, 'snapshot.db');
  writeFileSync(file, '');
  truncateSync(file, 17 * 1024 * 1024 + 32);
  spawnSync(process.execPath, [...flags, join(dist, 'main.js'), 'inspect', file], { stdio: 'ignore', env: { ...env, LOG_LEVEL: 'silent' } });
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

// Node names the folder of a cache after the user (<node>-<arch>-<flags hash>-<uid>) and writes its files for that user
// alone, since its default folder is the shared /tmp. This one belongs to the install: the files are made readable to
// all, and the folder is named for root and for the image's `node` user (uid 1000) too, the two users the image runs
// as (manifests/), so that neither compiles the modules again. Only whoever owns the install can write here. One
// folder for each flag hash above.
for (const made of readdirSync(cache)) {
  for (const f of readdirSync(join(cache, made))) chmodSync(join(cache, made, f), 0o644);
  chmodSync(join(cache, made), 0o755);
  const base = made.replace(/-\d+$/, '');
  for (const uid of [0, 1000]) if (`${base}-${uid}` !== made) symlinkSync(made, join(cache, `${base}-${uid}`));
}
