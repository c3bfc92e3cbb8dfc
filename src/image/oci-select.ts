// Which image of an OCI layout (directory or oci-archive) is the base: by
// reference (`org.opencontainers.image.ref.name`, which skopeo, umoci and
// buildah write as the tag, or containerd's `io.containerd.image.name`)
// and, through image indexes (multi-arch, nested or not), by platform
// (os/architecture/variant, as pullImage chooses from a manifest list).
// Refuses clearly when nothing, or more than one platform-less image,
// matches. Each blob is read once per selection, however often indexes list
// it, and the walk stops past MAX_DESCRIPTORS descriptors: indexes listing
// one another many times over would otherwise be read fan-out^depth times.
import { goArch } from './config.js';
import { OpError } from '../errors.js';

export interface OciDescriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface OciManifest {
  config: { digest: string };
  layers: { digest: string; mediaType?: string }[];
}

export interface OciSelector {
  fromImageName?: string;
  fromImageTag?: string;
  os?: string;
  architecture?: string;
  variant?: string;
}

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const REF_NAME = 'org.opencontainers.image.ref.name';
const IMAGE_NAME = 'io.containerd.image.name';
const MAX_DEPTH = 4;
/** Descriptors one selection may visit, through all its indexes (a multi-arch index lists a few dozen). */
export const MAX_DESCRIPTORS = 1024;

const describe = (d: OciDescriptor) => d.annotations?.[REF_NAME] ?? d.annotations?.[IMAGE_NAME] ?? d.digest;
const platformOf = (d: OciDescriptor) =>
  d.platform ? `${d.platform.os}/${d.platform.architecture}${d.platform.variant ? `/${d.platform.variant}` : ''}` : 'no platform';

/** Whether a top-level descriptor is the image the selector names. */
function refMatches(d: OciDescriptor, name: string | undefined, tag: string): boolean {
  const ref = d.annotations?.[REF_NAME];
  const image = d.annotations?.[IMAGE_NAME];
  const full = name ? `${name}:${tag}` : undefined;
  if (ref !== undefined && (ref === tag || ref === full)) return true;
  return image !== undefined && (full ? image === full || image.endsWith(`/${full}`) : image.endsWith(`:${tag}`));
}

interface Candidate {
  descriptor: OciDescriptor;
  /** The top-level descriptor it was reached from (its annotations name the image). */
  top: OciDescriptor;
  manifest: OciManifest;
}

export interface Selected {
  manifest: OciManifest;
  /** The image's name:tag when the layout records one (io.containerd.image.name). */
  repoTag?: string;
}

/** Choose one image manifest from an OCI index; `readJson` reads a blob by digest. */
export async function selectOciImage(
  index: { manifests?: OciDescriptor[] },
  readJson: (digest: string) => Promise<unknown>,
  sel: OciSelector,
  where: string,
): Promise<Selected> {
  const top = index.manifests ?? [];
  if (top.length === 0) throw new OpError('base_image', `${where}: empty index.json`, 'The OCI layout holds no image: check the path.');
  const tag = sel.fromImageTag ?? (sel.fromImageName ? 'latest' : undefined);
  const named = tag === undefined ? top : top.filter((d) => refMatches(d, sel.fromImageName, tag));
  if (named.length === 0) {
    throw new OpError(
      'base_image',
      `${where}: no image tagged ${sel.fromImageName ? `${sel.fromImageName}:` : ''}${tag} (the layout holds ${top.map(describe).join(', ')})`,
      `Set fromImageTag (--from-image-tag) to one of the layout's ${REF_NAME} values, or leave it out to use its first image.`,
    );
  }
  const blobs = new Map<string, Promise<unknown>>();
  const walk: Walk = {
    readJson: (digest) => {
      let body = blobs.get(digest);
      if (!body) blobs.set(digest, (body = readJson(digest)));
      return body;
    },
    out: [],
    visited: 0,
    where,
  };
  for (const d of named) await expand(d, d, walk, 0);
  const candidates = walk.out;
  // One image per name (or a layout of one image) is taken as it is, whatever its platform.
  const byName = tag === undefined ? candidates.filter((c) => c.top === named[0]) : candidates;
  if (byName.length === 1) return chosen(byName[0]!);
  const os = sel.os ?? 'linux';
  const arch = sel.architecture ?? goArch();
  const fits = byName.filter(
    (c) =>
      !c.descriptor.platform ||
      (c.descriptor.platform.os === os &&
        c.descriptor.platform.architecture === arch &&
        (sel.variant === undefined || c.descriptor.platform.variant === sel.variant)),
  );
  if (fits.length === 0) {
    throw new OpError(
      'image_platform',
      `${where}: no image for ${os}/${arch}${sel.variant ? `/${sel.variant}` : ''} (has ${byName.map((c) => platformOf(c.descriptor)).join(', ')})`,
      'Choose one of the listed platforms with os and architecture (--os, --architecture), or another fromImageTag.',
    );
  }
  return chosen(fits[0]!);
}

function chosen(c: Candidate): Selected {
  const image = c.top.annotations?.[IMAGE_NAME];
  return { manifest: c.manifest, ...(image ? { repoTag: image } : {}) };
}

/** One selection's walk through the indexes: its reads (one per digest), what it found, how far it went. */
interface Walk {
  readJson: (digest: string) => Promise<unknown>;
  out: Candidate[];
  visited: number;
  where: string;
}

/** The image manifests a descriptor stands for: itself, or the images of the index it points to. */
async function expand(d: OciDescriptor, top: OciDescriptor, walk: Walk, depth: number): Promise<void> {
  const { where } = walk;
  if (++walk.visited > MAX_DESCRIPTORS)
    throw new OpError(
      'base_image',
      `${where}: the image indexes list more than ${MAX_DESCRIPTORS} descriptors in all`,
      'Use an OCI layout whose index lists each image once (skopeo copy oci:... of the one image you need).',
    );
  const body = (await walk.readJson(d.digest)) as {
    manifests?: OciDescriptor[];
    config?: { digest: string };
    layers?: OciManifest['layers'];
    mediaType?: string;
  };
  if (INDEX_TYPES.has(d.mediaType ?? '') || INDEX_TYPES.has(body.mediaType ?? '') || Array.isArray(body.manifests)) {
    if (depth === MAX_DEPTH)
      throw new OpError(
        'base_image',
        `${where}: image indexes nested more than ${MAX_DEPTH} deep`,
        'Use an OCI layout whose index points to the images directly.',
      );
    for (const child of body.manifests ?? []) await expand(child, top, walk, depth + 1);
    return;
  }
  if (!body.config?.digest || !Array.isArray(body.layers)) {
    throw new OpError(
      'base_image',
      `${where}: ${d.digest} is neither an image manifest nor an image index`,
      'Make the OCI layout again (skopeo copy, umoci, buildah push oci:...).',
    );
  }
  walk.out.push({ descriptor: d, top, manifest: { config: body.config, layers: body.layers } });
}
