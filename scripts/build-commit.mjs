// Records the git commit this build was made from in dist/build.json ({"commit": "<12 hex>[-modified]"}), after
// `tsc`: package.json's version is not bumped per change, so manifests (tool.commit), `reshifter version` and the
// refusal of a newer reshifter's manifest name the commit instead. "-modified": tracked files differed from it. No
// git, or a folder that is not the top of its own repository (the Dockerfile's build stage has no .git; a tarball
// unpacked inside another repository): no file, and nothing is recorded.
import { execFileSync } from 'node:child_process';
import { realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
try {
  if (realpathSync(git('rev-parse', '--show-toplevel')) === realpathSync(root)) {
    const commit = git('rev-parse', '--short=12', 'HEAD');
    const modified = git('status', '--porcelain', '--untracked-files=no') !== '';
    if (/^[0-9a-f]{12}$/.test(commit)) writeFileSync(new URL('../dist/build.json', import.meta.url), `${JSON.stringify({ commit: `${commit}${modified ? '-modified' : ''}` })}\n`);
  }
} catch {
  // No git here: the build records no commit.
}
