import type { ParsedKey } from './key-layout.js';

/** The resource a key is reported under: `pods`, `widgets.example.com`, `masterleases`, or `(other)` outside the layout. */
export function resourceLabel(key: ParsedKey): string {
  if (key.resource === undefined || key.resource === '') return '(other)';
  return key.group === undefined ? key.resource : `${key.resource}.${key.group}`;
}

/** The prefixes to read key layout against: with `/` (every key) the known Kubernetes prefixes still name resources. */
export function layoutPrefixes(prefixes: readonly string[], defaults: readonly string[]): readonly string[] {
  const own = prefixes.filter((p) => p !== '/');
  return own.length === prefixes.length ? prefixes : [...new Set([...own, ...defaults])];
}
