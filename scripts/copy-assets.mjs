// Copies the files tsc does not emit (the web UI's HTML, CSS and JavaScript) from src/ to dist/, after `tsc`.
import { cpSync, rmSync } from 'node:fs';

const from = new URL('../src/server/ui/assets/', import.meta.url);
const to = new URL('../dist/server/ui/assets/', import.meta.url);
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
