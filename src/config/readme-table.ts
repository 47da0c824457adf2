import { TOOL_VARIABLES } from './tool-variables.js';
import { VARIABLES, type Variable } from './variables.js';

/** The header of the README's configuration table. */
export const CONFIG_TABLE_HEADER = ['| variable | default | example | meaning |', '|---|---|---|---|'];

/**
 * The README's configuration table as made from the declarations (variables.ts): one row per documented variable,
 * in their order; a variable that shares a row is named in that row's label.
 */
export function configTable(): string[] {
  const rows = VARIABLES.flatMap((v) => {
    if ('row' in v.doc) return [];
    const label = v.doc.label ?? `\`${v.name}\`${v.alias !== undefined ? ` (\`${v.alias}\`)` : ''}`;
    // Other tools' variables read in place of this row's: etcdctl's ETCDCTL_CERT / ETCDCTL_KEY.
    const sharing = VARIABLES.filter((o) => o === v || ('row' in o.doc && o.doc.row === v.name)).flatMap((o) => TOOL_VARIABLES[o.name] ?? []);
    const names = [...new Set(sharing.map((e) => `\`${e.name}\``))];
    const meaning = names.length > 0 ? `${v.doc.meaning}${v.doc.meaning === '' ? '' : '; '}when unset, ${sharing[0]!.tool} ${names.join(' / ')}` : v.doc.meaning;
    const cells = [label, v.doc.default, v.doc.example, withEmpty(meaning, v.empty)];
    return [`|${cells.map((c) => (c === '' ? ' ' : ` ${c} `)).join('|')}|`];
  });
  return [...CONFIG_TABLE_HEADER, ...rows];
}

/** A row's meaning, with what the variable means set but empty where that is not refused (Variable.empty). */
function withEmpty(meaning: string, empty: Variable['empty']): string {
  if (!('means' in empty)) return meaning;
  return meaning === '' ? `set but empty: ${empty.means}` : `${meaning}; set but empty: ${empty.means}`;
}
