// The closure graph for layering: read from a Nix exportReferencesGraph JSON,
// or found as Nix does by scanning the given paths' files (and symlink
// targets) for each other's absolute paths. Store paths found in the scanned
// bytes that exist on this machine join the closure.
import { createReadStream } from "node:fs";
import { lstat, readFile, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import type { ClosureNode } from "./popularity.js";

/** Accepts the graph array, or the object exportReferencesGraph writes ({ key: [...] }). */
export function parseReferencesGraph(value: unknown, key?: string): ClosureNode[] {
  let list: unknown = value;
  if (!Array.isArray(value) && value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    list = key !== undefined ? obj[key] : Object.values(obj).find(Array.isArray);
  }
  if (!Array.isArray(list)) throw new Error(`closure graph: expected an array of {path, references}${key ? ` under "${key}"` : ""}`);
  return list.map((n, i) => {
    const node = n as Partial<ClosureNode>;
    if (typeof node.path !== "string" || !Array.isArray(node.references)) throw new Error(`closure graph entry ${i}: needs "path" and "references"`);
    return { path: node.path, references: node.references.map(String), ...(typeof node.narSize === "number" ? { narSize: node.narSize } : {}) };
  });
}

export async function readReferencesGraph(file: string, key?: string): Promise<ClosureNode[]> {
  return parseReferencesGraph(JSON.parse(await readFile(file, "utf8")), key);
}

function storePathRegex(storeDir: string): RegExp {
  const esc = storeDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`${esc}/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+._?=-]+`, "g");
}

/** Store paths (storeDir/hash-name) mentioned in a string, such as the image config. */
export function storePathsIn(text: string, storeDir = "/nix/store"): string[] {
  return [...new Set(text.match(storePathRegex(storeDir)) ?? [])].map((p) => p.split("/").slice(0, storeDir.split("/").length + 1).join("/"));
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(() => true, () => false);
}

interface ScanResult {
  refs: Set<string>;
  size: number;
}

async function scanPath(root: string, candidates: string[], storeRe: RegExp, storeDir: string): Promise<ScanResult> {
  const needles = candidates.map((c) => ({ c, b: Buffer.from(c) }));
  const maxLen = Math.max(256, ...needles.map((n) => n.b.length));
  const refs = new Set<string>();
  let size = 0;
  const storeDepth = storeDir.split("/").length + 1;
  const check = (buf: Buffer) => {
    for (const n of needles) if (!refs.has(n.c) && buf.includes(n.b)) refs.add(n.c);
    for (const m of buf.toString("latin1").match(storeRe) ?? []) refs.add(m.split("/").slice(0, storeDepth).join("/"));
  };
  const visit = async (p: string): Promise<void> => {
    const st = await lstat(p);
    size += st.size;
    if (st.isSymbolicLink()) return check(Buffer.from(await readlink(p)));
    if (st.isDirectory()) {
      for (const child of (await readdir(p)).sort()) await visit(join(p, child));
      return;
    }
    if (!st.isFile()) return;
    let tail = Buffer.alloc(0);
    for await (const chunk of createReadStream(p, { highWaterMark: 1 << 20 })) {
      const buf = Buffer.concat([tail, chunk as Buffer]);
      check(buf);
      tail = buf.subarray(Math.max(0, buf.length - maxLen));
    }
  };
  await visit(root);
  return { refs, size };
}

/**
 * Build the closure graph of the given paths by scanning. Store paths under
 * storeDir that are referenced and exist are added (transitively).
 */
export async function scanClosure(paths: string[], storeDir = "/nix/store"): Promise<ClosureNode[]> {
  const storeRe = storePathRegex(storeDir);
  const nodes = new Map<string, ClosureNode>();
  const queue = [...new Set(paths)];
  const known = new Set(queue);
  while (queue.length > 0) {
    const p = queue.shift()!;
    const { refs, size } = await scanPath(p, [...known].filter((k) => k !== p), storeRe, storeDir);
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
      const extra = await scanPath(n.path, [...known].filter((k) => k !== n.path && !n.references.includes(k)), storeRe, storeDir);
      for (const r of extra.refs) if (known.has(r) && r !== n.path && !n.references.includes(r)) n.references.push(r);
      n.references.sort();
    }
  }
  return [...nodes.values()];
}
