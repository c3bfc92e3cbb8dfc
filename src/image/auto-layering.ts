// Size-based automatic layering, after the idea of nixpkgs' newer
// auto-layer.py (written afresh): the biggest paths (by narSize) become layer
// roots one by one; each path is put in the layer identified by the set of
// roots that depend on it and on nothing in between, so that big paths and
// the dependencies only they use share a layer, and common dependencies get
// their own. Roots that would exceed the limit are skipped; layers still
// left then go to the biggest paths that share one.
import type { ClosureNode } from './popularity.js';

function pathKey(path: string): string {
  const slash = path.lastIndexOf('/');
  const base = path.slice(slash + 1);
  const dash = base.indexOf('-');
  return dash === -1 ? path : `${base.slice(dash + 1)}\u0000${path.slice(0, slash + 1)}${base.slice(0, dash)}`;
}

const byKey = (a: string, b: string) => (pathKey(a) < pathKey(b) ? -1 : pathKey(a) > pathKey(b) ? 1 : 0);

function transitive(start: string, next: (p: string) => Iterable<string>): Set<string> {
  const done = new Set<string>();
  const todo = [start];
  while (todo.length > 0) {
    const x = todo.pop()!;
    if (done.has(x)) continue;
    done.add(x);
    for (const y of next(x)) todo.push(y);
  }
  done.delete(start);
  return done;
}

const idOf = (roots: Set<string>) => [...roots].sort().join('\n');

/**
 * While layers are left, the biggest path sharing a layer gets one of its
 * own (what the roots could not split), so that every allowed layer is used.
 */
function fillLayers(groups: Map<string, string[]>, limit: number, size: Map<string, number>): void {
  while (groups.size < limit) {
    let best: { id: string; path: string } | undefined;
    for (const [id, paths] of groups) {
      if (paths.length < 2) continue;
      for (const p of paths)
        if (
          !best ||
          (size.get(p) ?? 0) > (size.get(best.path) ?? 0) ||
          ((size.get(p) ?? 0) === (size.get(best.path) ?? 0) && byKey(p, best.path) < 0)
        )
          best = { id, path: p };
    }
    if (!best) return;
    groups.set(
      best.id,
      groups.get(best.id)!.filter((p) => p !== best!.path),
    );
    groups.set(`alone\n${best.path}`, [best.path]);
  }
}

/** Split the closure into at most `limit` layers; layers come after their dependencies. */
export function autoLayers(graph: ClosureNode[], limit: number): string[][] {
  const refs = new Map<string, string[]>();
  const users = new Map<string, Set<string>>();
  const size = new Map<string, number>();
  for (const n of graph) {
    refs.set(
      n.path,
      n.references.filter((r) => r !== n.path),
    );
    size.set(n.path, n.narSize ?? 0);
    if (!users.has(n.path)) users.set(n.path, new Set());
  }
  for (const [user, rs] of refs) {
    for (const r of rs) {
      if (!users.has(r)) users.set(r, new Set());
      users.get(r)!.add(user);
      if (!refs.has(r)) refs.set(r, []);
    }
  }
  const all = [...refs.keys()];
  let split = new Map<string, Set<string>>(all.map((p) => [p, new Set<string>()]));
  const countLayers = (s: Map<string, Set<string>>) => new Set([...s.values()].map(idOf)).size;
  const bySize = [...all].sort((a, b) => (size.get(b) ?? 0) - (size.get(a) ?? 0) || byKey(a, b));
  for (const primary of bySize) {
    const next = new Map([...split].map(([p, s]) => [p, new Set(s)]));
    next.set(primary, new Set([primary]));
    const deps = transitive(primary, (p) => refs.get(p) ?? []);
    const above = transitive(primary, (p) => users.get(p) ?? []);
    for (const d of deps) {
      const s = next.get(d)!;
      for (const u of above) s.delete(u);
      if (![...s].some((x) => deps.has(x))) s.add(primary);
    }
    // A root that would exceed the limit is skipped, not the end: a smaller one may still fit.
    if (countLayers(next) > limit) continue;
    split = next;
  }
  const groups = new Map<string, string[]>();
  for (const [p, s] of split) {
    const id = idOf(s);
    groups.set(id, [...(groups.get(id) ?? []), p]);
  }
  fillLayers(groups, limit, size);
  const closureSize = (paths: string[]) => {
    const seen = new Set<string>();
    for (const p of paths) {
      seen.add(p);
      for (const d of transitive(p, (x) => refs.get(x) ?? [])) seen.add(d);
    }
    return [...seen].reduce((sum, p) => sum + (size.get(p) ?? 0), 0);
  };
  return [...groups.values()]
    .map((paths) => paths.sort(byKey))
    .map((paths) => ({ paths, total: closureSize(paths) }))
    .sort((a, b) => a.total - b.total || byKey(a.paths[0]!, b.paths[0]!))
    .map((l) => l.paths);
}
