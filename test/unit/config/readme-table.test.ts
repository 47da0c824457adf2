import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KNOWN_VARIABLES, SECRET_VARIABLES } from '../../../src/config/load-config.js';
import { CONFIG_TABLE_HEADER, configTable } from '../../../src/config/readme-table.js';
import { VARIABLES } from '../../../src/config/variables.js';
import { REDACT_PATHS } from '../../../src/log.js';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8').split('\n');

/** The README's configuration table: from its header to the first line that is not a row. */
function readmeTable(): string[] {
  const start = README.indexOf(CONFIG_TABLE_HEADER[0]!);
  expect(start, 'the README has no configuration table').toBeGreaterThan(0);
  const end = README.findIndex((line, i) => i > start && !line.startsWith('|'));
  return README.slice(start, end);
}

describe('the configuration table', () => {
  it('is in the README as the declarations make it (npm run config-table writes it)', () => {
    expect(readmeTable()).toEqual(configTable());
  });

  it('documents every variable: in a row of its own, or named in the row it shares', () => {
    const byName = new Map(VARIABLES.map((v) => [v.name, v]));
    for (const v of VARIABLES) {
      const doc = 'row' in v.doc ? byName.get(v.doc.row)?.doc : v.doc;
      expect(doc && !('row' in doc), `${v.name} names no documented row`).toBe(true);
      const label = (doc as { label?: string }).label ?? `\`${v.name}\``;
      const suffix = `\`_${v.name.split('_').pop()!}\``;
      expect(label.includes(`\`${v.name}\``) || label.includes(suffix), `${v.name} is not named in its row (${label})`).toBe(true);
    }
  });

  it('derives the known and the secret variables from the same declarations', () => {
    expect(new Set(KNOWN_VARIABLES)).toEqual(new Set(VARIABLES.flatMap((v) => [v.name, ...(v.alias !== undefined ? [v.alias] : [])])));
    expect([...SECRET_VARIABLES].sort()).toEqual(['RS_API_TOKEN', 'RS_ENCRYPTION_IDENTITY', 'RS_ENCRYPTION_PASSPHRASE', 'RS_ETCD_PASSWORD', 'SECRET_ACCESS_KEY']);
  });

  it('redacts the config field of every secret variable in logs', () => {
    for (const v of VARIABLES.filter((x) => x.secret)) {
      const field = v.field.split('.').pop()!;
      expect(REDACT_PATHS, `${v.name} (${v.field}) is not redacted`).toContain(`*.${field}`);
    }
  });
});
