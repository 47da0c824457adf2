import { readFileSync } from 'node:fs';

/** The tool's version, from package.json next to dist/. */
export const VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();

/** What a build's commit looks like in dist/build.json and in manifests: 12 hex digits, `-modified` if tracked files differed. */
export const COMMIT_RE = /^[0-9a-f]{7,40}(-modified)?$/;

/**
 * The git commit this build was made from (dist/build.json, written by scripts/build-commit.mjs), or undefined: a build
 * without git (the Dockerfile's), or the sources run directly. package.json's version is not bumped per change.
 */
export const BUILD_COMMIT: string | undefined = (() => {
  try {
    const info = JSON.parse(readFileSync(new URL('./build.json', import.meta.url), 'utf8')) as { commit?: unknown };
    return typeof info.commit === 'string' && COMMIT_RE.test(info.commit) ? info.commit : undefined;
  } catch {
    return undefined;
  }
})();

/** The manifest's `tool`: this build's name, version and commit (when the build knew it). */
export const TOOL = { name: 'reshifter' as const, version: VERSION, ...(BUILD_COMMIT !== undefined && { commit: BUILD_COMMIT }) };
