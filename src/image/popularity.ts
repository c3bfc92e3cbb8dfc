// referencesByPopularity: order the paths of a closure so that the most
// widely depended-upon come first (the idea of nixpkgs' closure-graph.py,
// written afresh). A path scores 1 each time it appears directly below a
// parent in the unrolled tree, plus (score + 1) for every path in its subtree.
export interface ClosureNode {
  path: string;
  references: string[];
  narSize?: number;
}

/** Sort key: the hash part moved to the end ("/nix/store/abc-foo-1.0" -> "foo-1.0-/nix/store/abc"). */
export function packageName(path: string): string {
  // Only the last component is split, so dashes in the store directory itself
  // do not matter; for /nix/store paths this equals nixpkgs' key.
  const slash = path.lastIndexOf('/');
  const parts = path.slice(slash + 1).split('-');
  const first = parts.shift()!;
  if (parts.length === 0) return path;
  parts.push(path.slice(0, slash + 1) + first);
  return parts.join('-');
}

function lookupOf(graph: ClosureNode[]): Map<string, string[]> {
  const lookup = new Map<string, string[]>();
  for (const n of graph) lookup.set(n.path, [...new Set(n.references.filter((r) => r !== n.path))]);
  return lookup;
}

export function findRoots(graph: ClosureNode[]): string[] {
  const referenced = new Set<string>();
  for (const n of graph) for (const r of n.references) if (r !== n.path) referenced.add(r);
  return graph.map((n) => n.path).filter((p) => !referenced.has(p));
}

/** Popularity score of every path reachable from the roots. */
export function popularityScores(graph: ClosureNode[]): Map<string, number> {
  const lookup = lookupOf(graph);
  const memo = new Map<string, Map<string, number>>();
  const active = new Set<string>();
  const contest = (children: string[]): Map<string, number> => {
    const score = new Map<string, number>();
    for (const child of children) {
      score.set(child, (score.get(child) ?? 0) + 1);
      for (const [sub, s] of below(child)) score.set(sub, (score.get(sub) ?? 0) + s + 1);
    }
    return score;
  };
  const below = (path: string): Map<string, number> => {
    const cached = memo.get(path);
    if (cached) return cached;
    if (active.has(path)) return new Map(); // a cycle: ignore the back edge
    active.add(path);
    const result = contest(lookup.get(path) ?? []);
    active.delete(path);
    memo.set(path, result);
    return result;
  };
  return contest(findRoots(graph));
}

/** Highest score first; equal scores by sort key (default packageName) ascending. */
export function orderByPopularity(scores: Map<string, number>, keyOf: (path: string) => string = packageName): string[] {
  return [...scores.entries()]
    .map(([p, s]) => ({ p, s, k: keyOf(p) }))
    .sort((a, b) => b.s - a.s || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .map(({ p }) => p);
}

/** All paths of the graph by popularity; paths no root reaches (cycles) follow, sorted. */
export function referencesByPopularity(graph: ClosureNode[], keyOf?: (path: string) => string): string[] {
  const ordered = orderByPopularity(popularityScores(graph), keyOf);
  const seen = new Set(ordered);
  const rest = new Set<string>();
  for (const n of graph) for (const p of [n.path, ...n.references]) if (!seen.has(p)) rest.add(p);
  return [...ordered, ...[...rest].sort()];
}
