// NameTree: a map of layer paths ("a/b/c", '' is the root) with an index of
// each name's children, so that what is under a name (a whiteout's subtree,
// an opaque directory's contents, what a non-directory replaces) is found
// by walking that subtree, not by going through every name. Names between
// the root and a name that were never set themselves (layers may leave
// parent directories out) are in the index too: the subtree of a directory
// only implied by its files is found as well.

function parentOf(name: string): string {
  const at = name.lastIndexOf('/');
  return at === -1 ? '' : name.slice(0, at);
}

export class NameTree<V> {
  /** name -> value. Read it; change it only through set and drop, which keep the index. */
  readonly map = new Map<string, V>();
  /** name -> the names one level below it that have been set (or have had names set below them). */
  private readonly children = new Map<string, Set<string>>();

  set(name: string, value: V): void {
    this.map.set(name, value);
    for (let n = name; n !== ''; n = parentOf(n)) {
      const parent = parentOf(n);
      let below = this.children.get(parent);
      if (!below) this.children.set(parent, (below = new Set()));
      if (below.has(n)) break; // its ancestors are indexed already
      below.add(n);
    }
  }

  /** Removes every name under `name` ('' is the root), and `name` itself unless keepSelf. */
  drop(name: string, keepSelf: boolean): void {
    if (!keepSelf && name !== '') {
      this.map.delete(name);
      this.children.get(parentOf(name))?.delete(name);
    }
    const pending = [name];
    for (let n = pending.pop(); n !== undefined; n = pending.pop()) {
      const below = this.children.get(n);
      if (!below) continue;
      this.children.delete(n);
      for (const child of below) {
        this.map.delete(child);
        pending.push(child);
      }
    }
  }
}
