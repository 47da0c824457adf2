#!/usr/bin/env node
// Re-renders bench/results/<name>.md from <name>.json (after a change to the table's layout):
//   node bench/render.mjs [latest]
import { readFileSync, writeFileSync } from 'node:fs';
import { renderMarkdown } from './lib/report.mjs';

const name = process.argv[2] ?? 'latest';
const dir = new URL('./results/', import.meta.url);
const report = JSON.parse(readFileSync(new URL(`${name}.json`, dir), 'utf8'));
const md = renderMarkdown(report);
writeFileSync(new URL(`${name}.md`, dir), md);
process.stdout.write(md);
