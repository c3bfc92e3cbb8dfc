// Where the engine's unpacking puts each entry of one layer. It unpacks a
// layer alone, into a directory of its own, chrooted there (moby's
// chrootarchive; umoci resolves the same way): a name under a symlink the
// same layer placed goes where the symlink leads, an absolute target or ".."
// resolved from that directory's root and never above it, and a missing
// parent directory is made (MkdirAll). A symlink that leads to nothing the
// layer has, or a parent that is a non-directory of the layer, fails the
// engine's unpacking (ENOENT, ENOTDIR): refused. Purely lexical over the
// layer's own names: nothing on disk is read or written, every name that
// comes out is inside the root, and each lookup follows at most 40 symlinks
// of at most 4095 bytes each, as the kernel does.
import type { TarReadEntry } from './tar-reader.js';
import { NameTree } from './name-tree.js';
import { typeName } from './layer-entries.js';
import type { OpError } from '../errors.js';

/** Linux's MAXSYMLINKS: a lookup that follows more fails with ELOOP. */
const MAX_LINKS = 40;
/** PATH_MAX - 1: the kernel refuses to make a longer symlink target (ENAMETOOLONG). */
const MAX_TARGET = 4095;

interface Node {
  type: TarReadEntry['type'];
  target: string;
}

/** A path component still to look up, and the symlink whose target it comes from. */
interface Part {
  part: string;
  link: string | undefined;
}

const parentOf = (name: string) => name.slice(0, Math.max(name.lastIndexOf('/'), 0));
const join = (dir: string, base: string) => (dir === '' ? base : `${dir}/${base}`);

export class LayerPaths {
  /** What the layer's directory holds so far: entries placed and parents made. */
  private readonly tree = new NameTree<Node>();

  constructor(private readonly refuse: (problem: string) => OpError) {}

  /**
   * Where entry `e` (its name normalised, relative to the root) goes, given
   * the entries placed before it; records what it places there. A whiteout
   * or opaque marker (`isMarker`) is resolved the same way but holds no name.
   */
  place(e: Pick<TarReadEntry, 'name' | 'type' | 'linkname'>, isMarker: boolean): string {
    const slash = e.name.lastIndexOf('/');
    const dir = slash === -1 ? '' : this.walk(e.name.slice(0, slash), e.name)!;
    const at = join(dir, e.name.slice(slash + 1));
    if (isMarker) return at;
    // The final name is never followed: what is there is replaced, a directory merged with a directory.
    if (e.type !== 'dir' || this.tree.map.get(at)?.type !== 'dir') {
      this.tree.drop(at, true);
      this.tree.set(at, { type: e.type, target: e.type === 'symlink' ? e.linkname : '' });
    }
    return at;
  }

  /** A hard link's target as the engine's link(2) finds it in the layer so far; as given when the layer has nothing there. */
  linkTarget(name: string): string {
    const slash = name.lastIndexOf('/');
    if (slash === -1) return name;
    const dir = this.walk(name.slice(0, slash), undefined);
    return dir === undefined ? name : join(dir, name.slice(slash + 1));
  }

  /**
   * Resolves the directory `path` in the layer. For an entry's parents
   * (`entry` names the entry, for messages) a missing directory is made and
   * a dead end refused; for a lookup only (`entry` undefined) a dead end
   * gives undefined.
   */
  private walk(path: string, entry: string | undefined): string | undefined {
    const pending: Part[] = path
      .split('/')
      .reverse()
      .map((part) => ({ part, link: undefined }));
    let at = '';
    let links = 0;
    for (let p = pending.pop(); p !== undefined; p = pending.pop()) {
      if (p.part === '' || p.part === '.') continue;
      if (p.part === '..') {
        at = parentOf(at);
        continue;
      }
      const next = join(at, p.part);
      const node = this.tree.map.get(next);
      if (node?.type === 'dir') at = next;
      else if (node?.type === 'symlink') {
        const problem =
          ++links > MAX_LINKS
            ? `more than ${MAX_LINKS} symlinks are on its path`
            : node.target.length > MAX_TARGET
              ? `the target of symlink ${JSON.stringify(next)} on its path is longer than ${MAX_TARGET} bytes`
              : undefined;
        if (problem !== undefined) {
          if (entry === undefined) return undefined;
          throw this.refuse(`${JSON.stringify(entry)}: ${problem}`);
        }
        if (node.target.startsWith('/')) at = '';
        for (const part of node.target.split('/').reverse()) pending.push({ part, link: next });
      } else if (node) {
        if (entry === undefined) return undefined;
        const through = p.link === undefined ? '' : ` (through symlink ${JSON.stringify(p.link)})`;
        throw this.refuse(`${JSON.stringify(entry)} is under ${JSON.stringify(next)}${through}, ${typeName(node.type)} of the same layer`);
      } else if (entry === undefined) return undefined;
      else if (p.link !== undefined) {
        const target = this.tree.map.get(p.link)!.target;
        throw this.refuse(
          `${JSON.stringify(entry)} is under symlink ${JSON.stringify(p.link)} (to ${JSON.stringify(target)}), which leads to nothing the same layer has (${JSON.stringify(next)})`,
        );
      } else {
        this.tree.set(next, { type: 'dir', target: '' }); // the parent the unpacking makes
        at = next;
      }
    }
    return at;
  }
}
