// Minimal tar reader over an uncompressed file: yields each entry's header
// fields (pax and GNU long names applied) and the offset of its data, so that
// callers can read contents later without holding them in memory.
import { createReadStream } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import type { TarEntryType } from "./tar-writer.js";

export interface TarReadEntry {
  name: string;
  type: TarEntryType | "other";
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Byte offset of the entry's data in the file. */
  offset: number;
}

const TYPES: Record<string, TarEntryType> = {
  "0": "file", "\0": "file", "7": "file", "1": "hardlink", "2": "symlink",
  "3": "char", "4": "block", "5": "dir", "6": "fifo",
};

function str(buf: Buffer, off: number, len: number): string {
  const slice = buf.subarray(off, off + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul === -1 ? len : nul).toString("utf8");
}

function num(buf: Buffer, off: number, len: number): number {
  if ((buf[off]! & 0x80) !== 0) {
    // base-256 (GNU) encoding
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + buf[i]!;
    return v;
  }
  const s = str(buf, off, len).trim();
  return s === "" ? 0 : parseInt(s, 8);
}

function parsePax(body: string): Map<string, string> {
  const out = new Map<string, string>();
  let rest = Buffer.from(body, "utf8");
  while (rest.length > 0) {
    const sp = rest.indexOf(0x20);
    if (sp === -1) break;
    const len = parseInt(rest.subarray(0, sp).toString("ascii"), 10);
    if (!(len > 0)) break;
    const rec = rest.subarray(sp + 1, len - 1).toString("utf8");
    const eq = rec.indexOf("=");
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    rest = rest.subarray(len);
  }
  return out;
}

async function readExact(fh: FileHandle, pos: number, len: number): Promise<Buffer> {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === len ? buf : buf.subarray(0, got);
}

/** Iterate over the entries of an uncompressed tar file. */
export async function* readTarFile(path: string): AsyncIterable<TarReadEntry> {
  const fh = await open(path, "r");
  try {
    let pos = 0;
    let pax = new Map<string, string>();
    let globalPax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const h = await readExact(fh, pos, 512);
      if (h.length < 512 || h.every((b) => b === 0)) return;
      pos += 512;
      const size0 = num(h, 124, 12);
      const flag = String.fromCharCode(h[156]!);
      const dataSize = flag === "1" || flag === "2" || flag === "5" ? 0 : size0;
      if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
        const body = (await readExact(fh, pos, size0)).toString("utf8");
        if (flag === "x") pax = parsePax(body);
        else if (flag === "g") globalPax = new Map([...globalPax, ...parsePax(body)]);
        else if (flag === "L") longName = body.replace(/\0+$/, "");
        else longLink = body.replace(/\0+$/, "");
        pos += Math.ceil(dataSize / 512) * 512;
        continue;
      }
      const p = new Map([...globalPax, ...pax]);
      const prefix = str(h, 345, 155);
      let name = longName ?? p.get("path") ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
      name = name.replace(/^(\.\/)+/, "").replace(/^\/+/, "").replace(/\/+$/, "");
      const size = p.has("size") ? Number(p.get("size")) : dataSize;
      const entry: TarReadEntry = {
        name,
        type: TYPES[flag] ?? "other",
        mode: num(h, 100, 8) & 0o7777,
        uid: p.has("uid") ? Number(p.get("uid")) : num(h, 108, 8),
        gid: p.has("gid") ? Number(p.get("gid")) : num(h, 116, 8),
        uname: p.get("uname") ?? str(h, 265, 32),
        gname: p.get("gname") ?? str(h, 297, 32),
        mtime: p.has("mtime") ? Math.floor(Number(p.get("mtime"))) : num(h, 136, 12),
        size: flag === "5" || flag === "1" || flag === "2" ? 0 : size,
        linkname: longLink ?? p.get("linkpath") ?? str(h, 157, 100),
        devmajor: num(h, 329, 8),
        devminor: num(h, 337, 8),
        offset: pos,
      };
      pax = new Map();
      longName = undefined;
      longLink = undefined;
      pos = pos + Math.ceil(entry.size / 512) * 512;
      if (entry.name === "" && entry.type === "dir") continue;
      yield entry;
    }
  } finally {
    await fh.close();
  }
}

/** Read a whole entry's data (for small members such as JSON files). */
export async function readTarMember(path: string, entry: TarReadEntry): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    return await readExact(fh, entry.offset, entry.size);
  } finally {
    await fh.close();
  }
}

/** Stream part of a file (an entry's data). */
export async function* readRange(path: string, offset: number, size: number): AsyncIterable<Buffer> {
  if (size === 0) return;
  for await (const chunk of createReadStream(path, { start: offset, end: offset + size - 1 })) yield chunk as Buffer;
}
