// Image references, one grammar for the whole package (Docker's:
// [host[:port]/]path[:tag][@sha256:hex], lowercase path components): checking
// a reference, a name or a tag, taking a reference apart, and which registry
// and repository a name means (Docker Hub's rules when it names no host).
import { OpError } from '../errors.js';

/** One label of a registry host: alphanumerics, with dashes inside only (distribution/reference's domain-component). */
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
/** A registry host: localhost, a dotted name, or any name with a port (as Docker reads a first component). */
const DOMAIN = `(?:localhost|${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})+)(?::[0-9]+)?|${DOMAIN_COMPONENT}:[0-9]+`;
/** A path component: lowercase alphanumerics joined by one separator (., _, __ or dashes). */
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const NAME = `(?:(?:${DOMAIN})/)?${COMPONENT}(?:/${COMPONENT})*`;
const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
/** The most characters a name (host and path, without tag or digest) may have, as Docker's reference parser allows. */
export const NAME_MAX = 255;
const DIGEST = 'sha256:[a-f0-9]{64}';

const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const NAME_RE = new RegExp(`^${NAME}$`);
const TAG_RE = new RegExp(`^${TAG}$`);

export interface ParsedReference {
  /** [host[:port]/]path, as written. */
  name: string;
  tag?: string;
  /** sha256:<64 hex>, when the reference is pinned. */
  digest?: string;
}

/** Takes name[:tag][@sha256:hex] apart; null when it is not a valid reference. */
export function parseReference(ref: string): ParsedReference | null {
  const m = REFERENCE_RE.exec(ref);
  if (!m || m[1]!.length > NAME_MAX) return null;
  return { name: m[1]!, ...(m[2] !== undefined ? { tag: m[2] } : {}), ...(m[3] !== undefined ? { digest: m[3] } : {}) };
}

export function isImageReference(ref: string): boolean {
  return parseReference(ref) !== null;
}

/** A name without tag or digest: [host[:port]/]lowercase/path. */
export function isImageName(name: string): boolean {
  return typeof name === 'string' && name.length <= NAME_MAX && NAME_RE.test(name);
}

export function isImageTag(tag: string): boolean {
  return typeof tag === 'string' && TAG_RE.test(tag);
}

/** The digest a reference is pinned by (its @sha256:<hex> end), else null. */
export function pinnedDigest(ref: string): string | null {
  const m = new RegExp(`@(${DIGEST})$`).exec(ref);
  return m?.[1] ?? null;
}

/** Split "name@sha256:<hex>" (a tag before the digest is allowed and ignored). */
export function parsePinnedReference(ref: string): { name: string; digest: string } {
  const m = new RegExp(`^(.+?)(?::${TAG})?@(${DIGEST})$`).exec(ref);
  if (!m) {
    throw new OpError(
      'image_reference',
      `image reference must be pinned by digest (name@sha256:<64 hex>): ${ref}`,
      'Add the manifest digest, e.g. NAME@sha256:... from `docker buildx imagetools inspect NAME:TAG`, or give an image archive instead.',
    );
  }
  return { name: m[1]!, digest: m[2]! };
}

/** The name of a reference: without a docker:// transport prefix, its digest and its tag. */
export function referenceName(ref: string): string {
  return ref
    .replace(/^docker:\/\//, '')
    .replace(new RegExp(`@${DIGEST}$`), '')
    .replace(/:[\w][\w.-]*$/, '');
}

/** Where a name's images live: a registry host and a repository on it. */
export interface RepositoryLocation {
  registry: string;
  repository: string;
}

/** "nixos/nix" -> Docker Hub (library/ for one-part names); "host:5000/a/b" -> that registry. */
export function locateRepository(ref: string): RepositoryLocation {
  const parts = referenceName(ref).split('/');
  if (parts.length > 1 && /[.:]|^localhost$/.test(parts[0]!)) {
    const registry = parts.shift()!;
    return { registry: registry === 'docker.io' ? 'registry-1.docker.io' : registry, repository: parts.join('/') };
  }
  return { registry: 'registry-1.docker.io', repository: parts.length === 1 ? `library/${parts[0]}` : parts.join('/') };
}
