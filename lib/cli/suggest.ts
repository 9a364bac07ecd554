// "Did you mean": the known name closest to a mistyped one, by edit distance (insertions, deletions,
// substitutions and swaps of neighbours each count 1), when it is close enough to be a typo: at most
// 1 edit for names of up to 4 letters, 2 up to 8, 3 beyond.

/** The optimal-string-alignment distance between a and b. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** The candidate closest to `name` within the typo bound, or undefined (a tie goes to the first listed). */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  const bound = name.length <= 4 ? 1 : name.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestD = bound + 1;
  for (const c of candidates) {
    const dist = editDistance(name.toLowerCase(), c.toLowerCase());
    if (dist < bestD) (best = c), (bestD = dist);
  }
  return best;
}
