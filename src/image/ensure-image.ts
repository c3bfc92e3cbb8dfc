// For the build runner: make an image available in the engine from an image
// archive made by this toolkit or by nixpkgs (loaded, then used under its
// tag), or from a digest-pinned reference (pulled with pullImage, verified,
// loaded under a tag derived from the digest; skipped when already there).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// The engine client (dockerode) is imported on first use: importing it costs more than the rest of the toolkit.
import type { DockerClient } from '../engine/images.js';
import { pullImage } from './pull.js';
import { parsePinnedReference } from './reference.js';
import type { Credentials } from './registry.js';

export type ImageSource =
  { archive: string } | { reference: string; sha256?: string; tlsVerify?: boolean; credentials?: Credentials; os?: string; arch?: string };

export interface EnsureImageOptions {
  docker?: DockerClient;
  /** Receives progress lines (default: nothing). */
  log?: (line: string) => void;
}

/** Returns the reference to use with the engine (name:tag, or an image ID for untagged archives). */
export async function ensureImage(source: ImageSource, opts: EnsureImageOptions = {}): Promise<string> {
  const { defaultDockerClient, loadImageArchive } = await import('../engine/images.js');
  const docker = opts.docker ?? defaultDockerClient();
  const log = opts.log ?? (() => undefined);
  if ('archive' in source) {
    const loaded = await loadImageArchive(source.archive, { docker });
    log(`loaded ${loaded.join(', ')} from ${source.archive}`);
    return loaded[0]!;
  }
  const { name, digest } = parsePinnedReference(source.reference);
  const finalImageName = name.replace(/^docker\.io\//, '').toLowerCase();
  const finalImageTag = `sha256-${digest.slice(7, 39)}`;
  const ref = `${finalImageName}:${finalImageTag}`;
  const present = await docker
    .getImage(ref)
    .inspect()
    .then(
      () => true,
      (err: { statusCode?: number }) => {
        if (err.statusCode === 404) return false;
        throw err;
      },
    );
  if (present) {
    log(`${ref} already present`);
    return ref;
  }
  const tmp = await mkdtemp(join(tmpdir(), 'ndt-ensure-'));
  try {
    const out = join(tmp, 'image.tar');
    await pullImage({
      imageName: name,
      imageDigest: digest,
      finalImageName,
      finalImageTag,
      out,
      log,
      ...(source.sha256 !== undefined ? { sha256: source.sha256 } : {}),
      ...(source.tlsVerify !== undefined ? { tlsVerify: source.tlsVerify } : {}),
      ...(source.credentials ? { credentials: source.credentials } : {}),
      ...(source.os ? { os: source.os } : {}),
      ...(source.arch ? { arch: source.arch } : {}),
    });
    await loadImageArchive(out, { docker });
    log(`pulled ${source.reference} as ${ref}`);
    return ref;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
