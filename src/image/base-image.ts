// Read a base image (fromImage): a docker-archive tar (whole archive or its
// layers may be gzipped, as nixpkgs and `docker save` produce) or an OCI
// layout directory. Layers are used in place when uncompressed, otherwise
// decompressed into a temporary directory released by close().
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, open, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { Readable } from "node:stream";
import { readRange, readTarFile, readTarMember, type TarReadEntry } from "./tar-reader.js";
import type { ImageConfigJson } from "./config.js";
import type { MeasuredLayer } from "./layer.js";
import { measure } from "./digest.js";
import { isGzip } from "./gzip.js";
import { resolveMember } from "./archive-members.js";
import { selectOciImage, type OciDescriptor, type OciSelector } from "./oci-select.js";
import { OpError } from "../errors.js";

export interface BaseImage {
  config: ImageConfigJson;
  layers: MeasuredLayer[];
  repoTags: string[];
  /** Uncompressed layer files for readers that need random access (exportImage). */
  layerFiles: { path: string; offset: number; size: number }[];
  close(): Promise<void>;
}

const FORMAT_HINT =
  "fromImage must be a docker-archive (`docker save`, nixpkgs' dockerTools; plain or gzipped), an OCI archive or an OCI layout directory: check the path.";
const DAMAGED_HINT = "The base image is damaged or was modified after it was written: make it again (`docker save`, `nix build`).";

async function head(path: string, offset = 0): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, offset);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function gunzipTo(src: AsyncIterable<Buffer>, dest: string): Promise<void> {
  await pipeline(Readable.from(src), createGunzip(), createWriteStream(dest));
}

/** Which image of the archive or layout: by name and tag, and (through OCI image indexes) by platform. */
export type BaseSelector = OciSelector;

type OciIndex = { manifests?: OciDescriptor[] };

export async function openBaseImage(path: string, sel: BaseSelector = {}): Promise<BaseImage> {
  const tmp = await mkdtemp(join(tmpdir(), "ndt-base-"));
  const close = () => rm(tmp, { recursive: true, force: true });
  try {
    const st = await stat(path);
    const img = st.isDirectory() ? await openOci(path, tmp, sel) : await openDockerArchive(path, tmp, sel);
    return { ...img, close };
  } catch (err) {
    await close();
    if (err instanceof OpError) throw err;
    throw new OpError("base_image", `cannot read the base image ${path}: ${(err as Error).message}`, FORMAT_HINT);
  }
}

type Opened = Omit<BaseImage, "close">;

async function layerFrom(file: string, offset: number, size: number, tmp: string, i: number) {
  if (isGzip(await head(file, offset))) {
    const dest = join(tmp, `layer-${i}.tar`);
    await gunzipTo(readRange(file, offset, size), dest);
    return { path: dest, offset: 0, size: (await stat(dest)).size };
  }
  return { path: file, offset, size };
}

async function finish(config: ImageConfigJson, files: { path: string; offset: number; size: number }[], repoTags: string[]): Promise<Opened> {
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== files.length) throw new OpError("base_image", `base image: ${files.length} layers but ${diffIds.length} diff_ids`, DAMAGED_HINT);
  const layers: MeasuredLayer[] = [];
  for (const [i, f] of files.entries()) {
    const m = await measure(readRange(f.path, f.offset, f.size));
    if (m.digest !== diffIds[i]) throw new OpError("base_image", `base image: layer ${i + 1} has digest ${m.digest}, config says ${diffIds[i]}`, DAMAGED_HINT);
    layers.push({ open: () => readRange(f.path, f.offset, f.size), comment: `base layer ${i + 1}`, diffId: m.digest, size: m.size });
  }
  return { config, layers, repoTags, layerFiles: files };
}

async function openDockerArchive(path: string, tmp: string, sel: BaseSelector): Promise<Opened> {
  let archive = path;
  if (isGzip(await head(path))) {
    archive = join(tmp, "image.tar");
    await gunzipTo(createReadStream(path) as AsyncIterable<Buffer>, archive);
  }
  const members = new Map<string, TarReadEntry>();
  for await (const e of readTarFile(archive)) members.set(e.name, e);
  const member = (name: string) => resolveMember(members, name, path);
  const read = async (name: string) => {
    const e = member(name);
    if (!e) throw new OpError("base_image", `base image ${path}: no ${name} inside (not a docker-archive?)`, FORMAT_HINT);
    return readTarMember(archive, e);
  };
  if (!members.has("manifest.json") && members.has("index.json")) return openOciArchive(archive, member, read, tmp, sel);
  const manifest = JSON.parse((await read("manifest.json")).toString("utf8")) as { Config: string; RepoTags?: string[] | null; Layers: string[] }[];
  const want = sel.fromImageName ? `${sel.fromImageName}:${sel.fromImageTag ?? "latest"}` : undefined;
  const entry = want ? manifest.find((m) => (m.RepoTags ?? []).includes(want)) : manifest[0];
  if (!entry) {
    throw new OpError(
      "base_image",
      `base image ${path}: ${want ? `no image tagged ${want}` : "empty manifest.json"}`,
      want ? "Set fromImageName and fromImageTag to a tag the archive holds (see RepoTags in its manifest.json), or leave them out to use its first image." : FORMAT_HINT,
    );
  }
  const config = JSON.parse((await read(entry.Config)).toString("utf8")) as ImageConfigJson;
  const files = [];
  for (const [i, l] of entry.Layers.entries()) {
    const e = member(l);
    if (!e) throw new OpError("base_image", `base image ${path}: layer ${l} missing`, DAMAGED_HINT);
    files.push(await layerFrom(archive, e.offset, e.size, tmp, i));
  }
  return finish(config, files, entry.RepoTags ?? []);
}

/** An OCI layout inside a tar (oci-archive). */
async function openOciArchive(archive: string, member: (name: string) => TarReadEntry | undefined, read: (name: string) => Promise<Buffer>, tmp: string, sel: BaseSelector): Promise<Opened> {
  const blob = (d: string) => `blobs/${d.replace(":", "/")}`;
  const index = JSON.parse((await read("index.json")).toString("utf8")) as OciIndex;
  const readJson = async (d: string) => JSON.parse((await read(blob(d))).toString("utf8")) as unknown;
  const { manifest, repoTag } = await selectOciImage(index, readJson, sel, `OCI archive ${archive}`);
  const config = (await readJson(manifest.config.digest)) as ImageConfigJson;
  const files = [];
  for (const [i, l] of manifest.layers.entries()) {
    const e = member(blob(l.digest));
    if (!e) throw new OpError("base_image", `OCI archive ${archive}: layer ${l.digest} missing`, DAMAGED_HINT);
    files.push(await layerFrom(archive, e.offset, e.size, tmp, i));
  }
  return finish(config, files, repoTag ? [repoTag] : []);
}

async function openOci(dir: string, tmp: string, sel: BaseSelector): Promise<Opened> {
  const blob = (d: string) => join(dir, "blobs", ...d.split(":"));
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as OciIndex;
  const readJson = async (d: string) => JSON.parse(await readFile(blob(d), "utf8")) as unknown;
  const { manifest, repoTag } = await selectOciImage(index, readJson, sel, `OCI layout ${dir}`);
  const config = (await readJson(manifest.config.digest)) as ImageConfigJson;
  const files = [];
  for (const [i, l] of manifest.layers.entries()) files.push(await layerFrom(blob(l.digest), 0, (await stat(blob(l.digest))).size, tmp, i));
  return finish(config, files, repoTag ? [repoTag] : []);
}
