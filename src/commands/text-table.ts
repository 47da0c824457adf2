/**
 * Rows as aligned text columns two spaces apart: the first `leftColumns` padded on the right (names), the rest on
 * the left (numbers). The header is the first row.
 */
export function textTable(rows: readonly string[][], leftColumns = 1): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd());
}
