/**
 * "Did you mean": the known word nearest to what was typed, for commands, flags and variables alike. Near means an
 * edit distance (a transposition counts as one edit: `jsno` is one from `json`) of at most a third of the word,
 * between 1 and 3, so short words are not matched to anything that shares a letter. `synonyms` maps words an
 * operator brings from other tools (`ls`, `rm`, `save`) to ours; they win over spelling.
 */
export function suggest(word: string, known: readonly string[], synonyms: Readonly<Record<string, string>> = {}): string | undefined {
  const synonym = synonyms[word.toLowerCase()];
  if (synonym !== undefined) return synonym;
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
