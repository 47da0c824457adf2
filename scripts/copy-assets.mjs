// Copies the files tsc does not emit (the web UI's HTML, CSS and JavaScript) from src/ to dist/, after `tsc`, and
// marks the CLI (package.json's bin, dist/main.js) executable: tsc writes it 0644, and `npx reshifter` runs that file
// itself, so after a second `npm run build` (npm test, npm run demo) it failed "sh: 1: reshifter: Permission denied",
// exit 127; only npm's install or its first `npx` had set the mode, on a dist/ that the next build replaced.
import { chmodSync, cpSync, readFileSync, rmSync } from 'node:fs';

const from = new URL('../src/server/ui/assets/', import.meta.url);
const to = new URL('../dist/server/ui/assets/', import.meta.url);
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });

const { bin } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
for (const file of new Set(Object.values(bin))) chmodSync(new URL(`../${file}`, import.meta.url), 0o755);
