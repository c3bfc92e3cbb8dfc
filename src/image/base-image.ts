// Read a base image (fromImage): a docker-archive tar (whole archive or its
// layers may be gzipped, as nixpkgs and `docker save` produce) or an OCI
// layout directory. Layers are used in place when uncompressed, otherwise
// decompressed into a temporary directory released by close(), each member
// or blob once however often the image lists it, and never past what
// deflate can inflate it to. More layers than an image may have
// (MAX_LAYERS_LIMIT) are refused before any is opened.
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Readable, Transform } from 'node:stream';
import { readRange, readTarFile, readTarMember, TAR_MEMBER_MAX, type TarReadEntry } from './tar-reader.js';
import { checkOciBlob, ociBlobPath } from './oci-layout.js';
import type { ImageConfigJson } from './config.js';
import type { MeasuredLayer } from './layer.js';
import { measure } from './digest.js';
import { inflatedMax, isGzip } from './gzip.js';
import { MAX_LAYERS_LIMIT } from './layering.js';
import { resolveMember } from './archive-members.js';
import { selectOciImage, type OciDescriptor, type OciSelector } from './oci-select.js';
import { OpError } from '../errors.js';

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
const DAMAGED_HINT = 'The base image is damaged or was modified after it was written: make it again (`docker save`, `nix build`).';

async function head(path: string, offset = 0): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, offset);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Gunzips `size` bytes from src into dest, failing once the output passes what deflate can make of them. */
async function gunzipTo(src: AsyncIterable<Buffer>, size: number, dest: string, what: string): Promise<void> {
  const max = inflatedMax(size);
  let written = 0;
  const bound = new Transform({
    transform(chunk: Buffer, _e, cb) {
      written += chunk.length;
      if (written > max)
        return cb(
          new OpError('base_image', `${what}: ${size} bytes of gzip inflate to more than ${max}, more than gzip can`, DAMAGED_HINT),
        );
      cb(null, chunk);
    },
  });
  await pipeline(Readable.from(src), createGunzip(), bound, createWriteStream(dest));
}

/** An image may have at most MAX_LAYERS_LIMIT layers: checked on the list, before any layer is opened. */
function checkLayerCount(count: number, where: string): void {
  if (count > MAX_LAYERS_LIMIT)
    throw new OpError(
      'base_image',
      `${where}: ${count} layers, more than the ${MAX_LAYERS_LIMIT} an image may have`,
      "Docker's overlay2 storage driver cannot mount images with more than 127 layers: use a base image with fewer layers.",
    );
}

/** Which image of the archive or layout: by name and tag, and (through OCI image indexes) by platform. */
export type BaseSelector = OciSelector;

type OciIndex = { manifests?: OciDescriptor[] };

export async function openBaseImage(path: string, sel: BaseSelector = {}): Promise<BaseImage> {
  const tmp = await mkdtemp(join(tmpdir(), 'ndt-base-'));
  const close = () => rm(tmp, { recursive: true, force: true });
  try {
    const st = await stat(path);
    const img = st.isDirectory() ? await openOci(path, tmp, sel) : await openDockerArchive(path, tmp, sel);
    return { ...img, close };
  } catch (err) {
    await close();
    // A tar the reader refuses is, for the user, a fromImage that is not an image archive.
    if (err instanceof OpError && err.code === 'archive_format') throw new OpError('base_image', `base image ${err.message}`, FORMAT_HINT);
    if (err instanceof OpError) throw err;
    throw new OpError('base_image', `cannot read the base image ${path}: ${(err as Error).message}`, FORMAT_HINT);
  }
}

type Opened = Omit<BaseImage, 'close'>;
type LayerFile = BaseImage['layerFiles'][number];

/**
 * Opens layers (file and offset of a member or blob) for one image, each
 * place once: a reference to a place opened before gets the same LayerFile,
 * so a gzipped member listed N times is decompressed into one file.
 */
function layerOpener(tmp: string, where: string) {
  const opened = new Map<string, LayerFile>();
  return async (file: string, offset: number, size: number, what: string): Promise<LayerFile> => {
    const key = `${offset}:${file}`;
    const known = opened.get(key);
    if (known) return known;
    let got: LayerFile = { path: file, offset, size };
    if (isGzip(await head(file, offset))) {
      const dest = join(tmp, `layer-${opened.size}.tar`);
      await gunzipTo(readRange(file, offset, size), size, dest, `${where}: ${what}`);
      got = { path: dest, offset: 0, size: (await stat(dest)).size };
    }
    opened.set(key, got);
    return got;
  };
}

async function finish(config: ImageConfigJson, files: LayerFile[], repoTags: string[]): Promise<Opened> {
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== files.length)
    throw new OpError('base_image', `base image: ${files.length} layers but ${diffIds.length} diff_ids`, DAMAGED_HINT);
  const layers: MeasuredLayer[] = [];
  // Hashed once per file: a layer listed again is the same LayerFile (layerOpener).
  const measured = new Map<LayerFile, { digest: string; size: number }>();
  for (const [i, f] of files.entries()) {
    const m = measured.get(f) ?? (await measure(readRange(f.path, f.offset, f.size)));
    measured.set(f, m);
    if (m.digest !== diffIds[i])
      throw new OpError(
        'base_image',
        // The config's value only when it is a digest: whatever else it holds is the file's contents, not quoted.
        `base image: layer ${i + 1} has digest ${m.digest}, config says ${/^sha256:[0-9a-f]{64}$/.test(String(diffIds[i])) ? diffIds[i] : 'something that is not a sha256 digest'}`,
        DAMAGED_HINT,
      );
    layers.push({ open: () => readRange(f.path, f.offset, f.size), comment: `base layer ${i + 1}`, diffId: m.digest, size: m.size });
  }
  return { config, layers, repoTags, layerFiles: files };
}

async function openDockerArchive(path: string, tmp: string, sel: BaseSelector): Promise<Opened> {
  let archive = path;
  if (isGzip(await head(path))) {
    archive = join(tmp, 'image.tar');
    await gunzipTo(createReadStream(path) as AsyncIterable<Buffer>, (await stat(path)).size, archive, `base image ${path}`);
  }
  const members = new Map<string, TarReadEntry>();
  for await (const e of readTarFile(archive)) members.set(e.name, e);
  const member = (name: string) => resolveMember(members, name, path);
  const read = async (name: string) => {
    const e = member(name);
    if (!e) throw new OpError('base_image', `base image ${path}: no ${name} inside (not a docker-archive?)`, FORMAT_HINT);
    return readTarMember(archive, e);
  };
  if (!members.has('manifest.json') && members.has('index.json')) return openOciArchive(archive, member, read, tmp, sel);
  const manifest = parseJson<{ Config: string; RepoTags?: string[] | null; Layers: string[] }[]>(
    await read('manifest.json'),
    `base image ${path}: manifest.json`,
  );
  if (!Array.isArray(manifest)) throw new OpError('base_image', `base image ${path}: manifest.json is not a list`, FORMAT_HINT);
  const entry = pickArchiveImage(manifest, sel, `base image ${path}`);
  if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers))
    throw new OpError('base_image', `base image ${path}: manifest.json has no Config or Layers`, FORMAT_HINT);
  checkLayerCount(entry.Layers.length, `base image ${path}`);
  const config = parseJson<ImageConfigJson>(await read(entry.Config), `base image ${path}: ${entry.Config}`);
  const openLayer = layerOpener(tmp, `base image ${path}`);
  const files = [];
  for (const l of entry.Layers) {
    const e = member(l);
    if (!e) throw new OpError('base_image', `base image ${path}: layer ${l} missing`, DAMAGED_HINT);
    files.push(await openLayer(archive, e.offset, e.size, `layer ${l}`));
  }
  return finish(config, files, entry.RepoTags ?? []);
}

/** A RepoTag's tag: what follows the last ':' after the last '/' (a registry's port is not a tag). */
const tagOf = (repoTag: string) => {
  const i = repoTag.lastIndexOf(':');
  return i > repoTag.lastIndexOf('/') ? repoTag.slice(i + 1) : undefined;
};

/**
 * The image of a docker-archive that fromImageName/fromImageTag choose: the
 * one tagged name:tag (tag default latest); with a tag alone, the one whose
 * RepoTags have that tag, when only one has; with neither, the first.
 */
function pickArchiveImage<T extends { RepoTags?: string[] | null }>(manifest: T[], sel: BaseSelector, where: string): T {
  const tagsOf = (m: T) => (Array.isArray(m?.RepoTags) ? m.RepoTags.filter((t): t is string => typeof t === 'string') : []);
  const held = () => {
    const all = manifest.flatMap(tagsOf);
    const untagged = manifest.length - manifest.filter((m) => tagsOf(m).length > 0).length;
    return `the archive holds ${manifest.length} image${manifest.length === 1 ? '' : 's'}${all.length ? `: ${all.join(', ')}` : ''}${untagged ? `${all.length ? ' and ' : ', '}${untagged} untagged` : ''}`;
  };
  if (sel.fromImageName === undefined && sel.fromImageTag === undefined) {
    if (!manifest[0]) throw new OpError('base_image', `${where}: empty manifest.json`, FORMAT_HINT);
    return manifest[0];
  }
  const pickHint =
    'Set fromImageName and fromImageTag (--from-image-name, --from-image-tag) to one of the tags the archive holds (its manifest.json RepoTags), or leave both out to use its first image.';
  if (sel.fromImageName !== undefined) {
    const want = `${sel.fromImageName}:${sel.fromImageTag ?? 'latest'}`;
    const found = manifest.find((m) => tagsOf(m).includes(want));
    if (!found) throw new OpError('base_image', `${where}: no image tagged ${want} (${held()})`, pickHint);
    return found;
  }
  const tag = sel.fromImageTag!;
  const found = manifest.filter((m) => tagsOf(m).some((t) => tagOf(t) === tag));
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw new OpError('base_image', `${where}: no image tagged ${tag} (${held()})`, pickHint);
  const names = found.flatMap(tagsOf).filter((t) => tagOf(t) === tag);
  throw new OpError(
    'base_image',
    `${where}: ${found.length} images are tagged ${tag} (${names.join(', ')}); fromImageTag alone cannot choose`,
    `Add fromImageName (--from-image-name) to say which: ${names.map((t) => t.slice(0, t.length - tag.length - 1)).join(' or ')}.`,
  );
}

/** JSON from a base image member or file; the parser's message is left out, as it quotes the content. */
function parseJson<T>(data: Buffer, what: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch {
    throw new OpError('base_image', `${what} is not valid JSON (${data.length} bytes)`, DAMAGED_HINT);
  }
}

/**
 * The image the selector chooses (oci-select.ts), its manifest and config,
 * each read by `blob` from a checked digest and verified against it. Returns the
 * layers' blob paths.
 */
async function readOciParts(where: string, index: OciIndex, blob: (path: string) => Promise<Buffer>, sel: BaseSelector) {
  // Every blob: its digest checked before it names a path, its bytes against the digest, its JSON bounded.
  const readJson = async (digest: unknown, what: string) => {
    const path = ociBlobPath(digest, `${where}: ${what}`);
    const data = await blob(path);
    checkOciBlob(digest as string, data, `${where}: ${what}`);
    return parseJson<unknown>(data, `${where}: ${what}`);
  };
  const { manifest, repoTag } = await selectOciImage(index, (d) => readJson(d, 'the manifest'), sel, where);
  if (!manifest?.config || !Array.isArray(manifest.layers))
    throw new OpError('base_image', `${where}: the manifest has no config or layers`, DAMAGED_HINT);
  checkLayerCount(manifest.layers.length, where);
  const config = (await readJson(manifest.config.digest, 'the config')) as ImageConfigJson;
  const layers = manifest.layers.map((l, i) => ({ digest: l.digest as string, path: ociBlobPath(l.digest, `${where}: layer ${i + 1}`) }));
  return { config, layers, repoTags: repoTag ? [repoTag] : [] };
}

/** An OCI layout inside a tar (oci-archive). */
async function openOciArchive(
  archive: string,
  member: (name: string) => TarReadEntry | undefined,
  read: (name: string) => Promise<Buffer>,
  tmp: string,
  sel: BaseSelector,
): Promise<Opened> {
  const index = parseJson<OciIndex>(await read('index.json'), `OCI archive ${archive}: index.json`);
  const parts = await readOciParts(`OCI archive ${archive}`, index, read, sel);
  const openLayer = layerOpener(tmp, `OCI archive ${archive}`);
  const files = [];
  for (const l of parts.layers) {
    const e = member(l.path);
    if (!e) throw new OpError('base_image', `OCI archive ${archive}: layer ${l.digest} missing`, DAMAGED_HINT);
    files.push(await openLayer(archive, e.offset, e.size, `layer ${l.digest}`));
  }
  return finish(parts.config, files, parts.repoTags);
}

/** A small file of an OCI layout directory (index.json, a manifest, a config): a regular file of at most TAR_MEMBER_MAX bytes. */
async function readSmall(path: string, what: string): Promise<Buffer> {
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isFile()) throw new OpError('base_image', `${what}: ${st ? 'not a regular file' : 'missing'}`, DAMAGED_HINT);
  if (st.size > TAR_MEMBER_MAX)
    throw new OpError('base_image', `${what}: ${st.size} bytes, more than the ${TAR_MEMBER_MAX} accepted`, DAMAGED_HINT);
  return readFile(path);
}

async function openOci(dir: string, tmp: string, sel: BaseSelector): Promise<Opened> {
  const where = `OCI layout ${dir}`;
  // A directory with neither file is not a layout at all (a rootfs, a typo), not a damaged one.
  const [layoutFile, indexFile] = await Promise.all(['oci-layout', 'index.json'].map((f) => lstat(join(dir, f)).catch(() => null)));
  if (!layoutFile && !indexFile)
    throw new OpError(
      'base_image',
      `${dir} is a directory but not an OCI image layout (it has no oci-layout or index.json)`,
      'Give fromImage (--from-image) an image archive (docker save, buildLayeredImage: a .tar or .tar.gz) or an OCI layout directory (skopeo copy ... oci:DIR); a root file system directory goes in contents or copyToRoot instead.',
    );
  const index = parseJson<OciIndex>(await readSmall(join(dir, 'index.json'), `${where}: index.json`), `${where}: index.json`);
  const parts = await readOciParts(where, index, (p) => readSmall(join(dir, p), `${where}: ${p}`), sel);
  const openLayer = layerOpener(tmp, where);
  const files = [];
  for (const l of parts.layers) {
    const path = join(dir, l.path);
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isFile())
      throw new OpError('base_image', `${where}: layer ${l.digest} ${st ? 'is not a regular file' : 'missing'}`, DAMAGED_HINT);
    files.push(await openLayer(path, 0, st.size, `layer ${l.digest}`));
  }
  return finish(parts.config, files, parts.repoTags);
}
