// The closure graph for layering: read from a Nix exportReferencesGraph JSON,
// or found as Nix does by scanning the given paths' files (and symlink
// targets) for each other's absolute paths. Store paths found in the scanned
// bytes that exist on this machine join the closure. What this user may not
// read is an input_path error naming it.
import { closeSync, lstatSync, openSync, readSync } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { linkTarget, listNames } from './host-names.js';
import type { ClosureNode } from './popularity.js';
import { jsonFault, OpError } from '../errors.js';
import { denied } from './unreadable.js';

const CLOSURE_GRAPH_HINT =
  'Give closureGraph the JSON that exportReferencesGraph (or `nix path-info --json --recursive`) writes: [{"path": ..., "references": [...]}].';

/** Accepts the graph array, or the object exportReferencesGraph writes ({ key: [...] }). */
export function parseReferencesGraph(value: unknown, key?: string): ClosureNode[] {
  let list: unknown = value;
  if (!Array.isArray(value) && value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    list = key !== undefined ? obj[key] : Object.values(obj).find(Array.isArray);
  }
  if (!Array.isArray(list))
    throw new OpError(
      'image_options',
      `closure graph: expected an array of {path, references}${key ? ` under "${key}"` : ''}`,
      CLOSURE_GRAPH_HINT,
    );
  return list.map((n, i) => {
    const node = n as Partial<ClosureNode>;
    if (typeof node.path !== 'string' || !Array.isArray(node.references))
      throw new OpError('image_options', `closure graph entry ${i}: needs "path" and "references"`, CLOSURE_GRAPH_HINT);
    return {
      path: node.path,
      references: node.references.map(String),
      ...(typeof node.narSize === 'number' ? { narSize: node.narSize } : {}),
    };
  });
}

export async function readReferencesGraph(file: string, key?: string): Promise<ClosureNode[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new OpError(
        'input_missing',
        `closureGraph (--closure-graph): ${file} does not exist`,
        `Give closureGraph the path of the file exportReferencesGraph wrote, or its JSON inline.`,
      );
    throw new OpError('input_path', `closureGraph (--closure-graph): cannot read ${file}: ${(err as Error).message}`, CLOSURE_GRAPH_HINT);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new OpError('image_options', `closureGraph (--closure-graph): ${file} is not JSON (${jsonFault(err, text)})`, CLOSURE_GRAPH_HINT);
  }
  return parseReferencesGraph(value, key);
}

function storePathRegex(storeDir: string): RegExp {
  const esc = storeDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`${esc}/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+._?=-]+`, 'g');
}

/** Store paths (storeDir/hash-name) mentioned in a string, such as the image config. */
export function storePathsIn(text: string, storeDir = '/nix/store'): string[] {
  return [...new Set(text.match(storePathRegex(storeDir)) ?? [])].map((p) =>
    p
      .split('/')
      .slice(0, storeDir.split('/').length + 1)
      .join('/'),
  );
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

interface ScanResult {
  refs: Set<string>;
  size: number;
}

/**
 * Finds which of many byte strings occur in a buffer: the needles are grouped
 * by their first bytes, each group's common prefix is searched once (native
 * indexOf), and only at its hits are the group's needles compared. One pass
 * per group instead of one per needle, and no copies.
 */
class NeedleSet {
  private groups: { prefix: Buffer; keyLen: number; byKey: Map<string, { c: string; b: Buffer }[]> }[] = [];

  constructor(candidates: string[]) {
    const byHead = new Map<string, { c: string; b: Buffer }[]>();
    for (const c of candidates) {
      const b = Buffer.from(c);
      if (b.length === 0) continue;
      const head = b.subarray(0, 4).toString('latin1');
      byHead.set(head, [...(byHead.get(head) ?? []), { c, b }]);
    }
    for (const list of byHead.values()) {
      let p = list[0]!.b.length;
      for (const n of list) {
        p = Math.min(p, n.b.length);
        while (p > 0 && Buffer.compare(n.b.subarray(0, p), list[0]!.b.subarray(0, p)) !== 0) p--;
      }
      const prefix = list[0]!.b.subarray(0, p);
      // The bytes after the prefix, up to the shortest needle, pick the candidates at a hit.
      const keyLen = Math.min(32, Math.min(...list.map((n) => n.b.length)) - p);
      const byKey = new Map<string, { c: string; b: Buffer }[]>();
      for (const n of list) {
        const k = n.b.subarray(p, p + keyLen).toString('latin1');
        byKey.set(k, [...(byKey.get(k) ?? []), n]);
      }
      this.groups.push({ prefix, keyLen, byKey });
    }
  }

  /** Adds to `found` every needle that occurs in buf (needles already in `found` are not looked for again). */
  scan(buf: Buffer, found: Set<string>): void {
    for (const g of this.groups) {
      let pending = 0;
      for (const list of g.byKey.values()) for (const n of list) if (!found.has(n.c)) pending++;
      if (pending === 0) continue;
      const p = g.prefix.length;
      for (let i = buf.indexOf(g.prefix); i !== -1 && pending > 0; i = buf.indexOf(g.prefix, i + 1)) {
        const list = g.byKey.get(buf.toString('latin1', i + p, i + p + g.keyLen));
        if (!list) continue;
        for (const n of list) {
          if (found.has(n.c) || i + n.b.length > buf.length) continue;
          if (buf.compare(n.b, 0, n.b.length, i, i + n.b.length) === 0) {
            found.add(n.c);
            pending--;
          }
        }
      }
    }
  }
}

/**
 * Store paths mentioned in buf, as storeRe (global) would match them in its
 * latin1 text, found without converting the whole buffer: a match can only
 * start where "<storeDir>/" occurs, so only those places are tried.
 */
function storeMatches(buf: Buffer, storeDir: string, storeRe: RegExp): string[] {
  const lead = Buffer.from(`${storeDir}/`);
  const sticky = new RegExp(storeRe.source, 'y');
  const out: string[] = [];
  for (let i = buf.indexOf(lead); i !== -1;) {
    // Widen the window until the match (if any) ends before the window does.
    for (let w = 512; ; w *= 4) {
      const end = Math.min(buf.length, i + w);
      const text = buf.toString('latin1', i, end);
      sticky.lastIndex = 0;
      const m = sticky.exec(text);
      if (m && m[0].length === text.length && end < buf.length) continue;
      if (m) out.push(m[0]);
      i = buf.indexOf(lead, i + (m ? m[0].length : 1));
      break;
    }
  }
  return out;
}

/**
 * Which of the given paths a tree's bytes mention, fed piece by piece as
 * something else reads them (the image stream reads each file once, for its
 * layer and for this): a path cut between two pieces of one file is still
 * found, as scanClosure finds it.
 */
export class ReferenceScanner {
  readonly found = new Set<string>();
  private readonly needles: NeedleSet;
  /** The last bytes of the file's previous piece (one less than the longest path). */
  private readonly tail: Buffer;
  private tailLength = 0;

  constructor(candidates: string[]) {
    this.needles = new NeedleSet(candidates);
    this.tail = Buffer.alloc(Math.max(0, ...candidates.map((c) => Buffer.byteLength(c) - 1)));
  }

  /** Bytes that stand alone: a symlink's target, a whole small file. */
  bytes(buf: Buffer): void {
    this.needles.scan(buf, this.found);
  }

  /**
   * A piece of a file's contents that starts at `offset` in it (0: a new
   * file); `last` when it ends the file (no tail is kept for a next piece:
   * most files are one piece, and the copy was one call per file).
   */
  piece(buf: Buffer, offset: number, last = false): void {
    if (offset === 0) this.tailLength = 0;
    const keep = this.tail.length;
    if (this.tailLength > 0 && buf.length > 0) {
      // Only a path that starts in the tail and ends in this piece: the rest is found in one of them.
      this.needles.scan(Buffer.concat([this.tail.subarray(0, this.tailLength), buf.subarray(0, keep)]), this.found);
    }
    this.needles.scan(buf, this.found);
    if (last) {
      this.tailLength = 0;
      return;
    }
    if (buf.length >= keep) {
      buf.copy(this.tail, 0, buf.length - keep);
      this.tailLength = keep;
    } else {
      const joined = Buffer.concat([this.tail.subarray(0, this.tailLength), buf]);
      this.tailLength = Math.min(keep, joined.length);
      joined.copy(this.tail, 0, joined.length - this.tailLength);
    }
  }
}

/**
 * Whether a scan must look for store paths the roots do not name: only when
 * this machine has a store directory or a root is in it (a store path found
 * otherwise could neither exist nor be a root: it would be dropped).
 */
export async function searchesStore(paths: string[], storeDir: string): Promise<boolean> {
  return (await exists(storeDir)) || paths.some((p) => p.startsWith(`${storeDir}/`));
}

/** Files up to this size are read in one synchronous call (as the tar writer does). */
const SCAN_SMALL_FILE = 1 << 20;

/** One buffer for every small file read by the scan (nothing keeps a reference to what it scans). */
let scanBuffer: Buffer | undefined;

/** A small file's bytes in the shared scan buffer: open, read, close (no fstat, no new buffer). */
function readSmall(p: string, size: number): Buffer {
  const buf = (scanBuffer ??= Buffer.allocUnsafe(SCAN_SMALL_FILE));
  const fd = openSync(p, 'r');
  try {
    let n = 0;
    for (let r; n < size && (r = readSync(fd, buf, n, size - n, null)) > 0;) n += r;
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * A big file, read in 1 MiB pieces, each into one buffer right after the
 * last `overlap` bytes of the piece before (moved to its start), so that a
 * path across a piece boundary is seen whole. The kernel writes straight
 * into that buffer: a Buffer.concat of every piece with the overlap was a
 * third of the whole scan's time.
 */
function scanBig(p: string, overlap: number, check: (buf: Buffer) => void): void {
  const buf = Buffer.allocUnsafe(overlap + SCAN_SMALL_FILE);
  const fd = openSync(p, 'r');
  try {
    let kept = 0;
    for (let n; (n = readSync(fd, buf, kept, SCAN_SMALL_FILE, null)) > 0;) {
      const view = buf.subarray(0, kept + n);
      check(view);
      kept = Math.min(overlap, view.length);
      view.copyWithin(0, view.length - kept);
    }
  } finally {
    closeSync(fd);
  }
}

async function scanPath(root: string, candidates: string[], storeRe: RegExp | null, storeDir: string): Promise<ScanResult> {
  const needles = new NeedleSet(candidates);
  const maxLen = Math.max(256, ...candidates.map((c) => Buffer.byteLength(c)));
  const refs = new Set<string>();
  let size = 0;
  const storeDepth = storeDir.split('/').length + 1;
  const check = (buf: Buffer) => {
    needles.scan(buf, refs);
    if (storeRe) for (const m of storeMatches(buf, storeDir, storeRe)) refs.add(m.split('/').slice(0, storeDepth).join('/'));
  };
  const visit = async (p: string): Promise<void> => {
    const st = denied(() => lstatSync(p), dirname(p), 'search');
    size += st.size;
    if (st.isSymbolicLink()) return check(Buffer.from(linkTarget(p)));
    if (st.isDirectory()) {
      for (const child of denied(() => listNames(p), p, 'list').sort()) await visit(join(p, child));
      return;
    }
    if (!st.isFile()) return;
    if (st.size <= SCAN_SMALL_FILE) return check(denied(() => readSmall(p, st.size), p, 'read'));
    denied(() => scanBig(p, maxLen, check), p, 'read');
  };
  await visit(root);
  return { refs, size };
}

/**
 * Build the closure graph of the given paths by scanning. Store paths under
 * storeDir that are referenced and exist are added (transitively).
 */
export async function scanClosure(paths: string[], storeDir = '/nix/store'): Promise<ClosureNode[]> {
  // Without a store on this machine and no root in it, the search for store
  // paths (a pass over every byte) is left out.
  const storeRe = (await searchesStore(paths, storeDir)) ? storePathRegex(storeDir) : null;
  const nodes = new Map<string, ClosureNode>();
  const queue = [...new Set(paths)];
  const known = new Set(queue);
  while (queue.length > 0) {
    const p = queue.shift()!;
    const { refs, size } = await scanPath(
      p,
      [...known].filter((k) => k !== p),
      storeRe,
      storeDir,
    );
    const references: string[] = [];
    for (const r of [...refs].sort()) {
      if (r === p) continue;
      if (!known.has(r)) {
        if (!(await exists(r))) continue;
        known.add(r);
        queue.push(r);
      }
      references.push(r);
    }
    nodes.set(p, { path: p, references, narSize: size });
  }
  // Paths discovered later may be referenced by ones scanned earlier: rescan those edges.
  if (nodes.size > paths.length) {
    for (const n of nodes.values()) {
      const extra = await scanPath(
        n.path,
        [...known].filter((k) => k !== n.path && !n.references.includes(k)),
        storeRe,
        storeDir,
      );
      for (const r of extra.refs) if (known.has(r) && r !== n.path && !n.references.includes(r)) n.references.push(r);
      n.references.sort();
    }
  }
  return [...nodes.values()];
}
