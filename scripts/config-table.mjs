// Writes the README's configuration table from the declarations in src/config/variables.ts (built into dist/):
//   npm run config-table
// test/unit/config/readme-table.test.ts fails while the README and the declarations differ.
import { readFileSync, writeFileSync } from 'node:fs';

const { CONFIG_TABLE_HEADER, configTable } = await import(new URL('../dist/config/readme-table.js', import.meta.url).href);
const readme = new URL('../README.md', import.meta.url);
const lines = readFileSync(readme, 'utf8').split('\n');
const start = lines.indexOf(CONFIG_TABLE_HEADER[0]);
if (start < 0) throw new Error('README.md has no configuration table (its header line was not found)');
let end = start;
while (end < lines.length && lines[end].startsWith('|')) end++;
lines.splice(start, end - start, ...configTable());
writeFileSync(readme, lines.join('\n'));
console.log(`README.md: configuration table of ${end - start - 2} rows rewritten`);
