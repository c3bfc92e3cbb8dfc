// Shared last step of every builder: measure the layers, write the config,
// choose the tag (default: derived from the image ID, i.e. from the content)
// and hand back the parts an output writer needs.
import { buildConfigJson, goArch, overlayBaseConfig, type ImageConfigJson, type ImageRuntimeConfig } from './config.js';
import { hexOf } from './digest.js';
import { measureLayers, type Layer, type MeasuredLayer } from './layer.js';
import type { ImageParts } from './docker-archive.js';
import type { Created } from './time.js';
import { isImageName, isImageTag, NAME_MAX } from './reference.js';
import { OpError } from '../errors.js';

export interface AssembleInput {
  name: string;
  tag?: string;
  base?: { config: ImageConfigJson; layers: MeasuredLayer[] };
  layers: Layer[];
  config?: ImageRuntimeConfig;
  created: Created;
  architecture?: string;
  os?: string;
}

export interface Assembled extends ImageParts {
  name: string;
  tag: string;
  architecture: string;
  os: string;
}

export function checkName(name: string): void {
  if (typeof name !== 'string')
    throw new OpError(
      'image_name',
      `the image name must be a string (got ${JSON.stringify(name)}, a ${typeof name})`,
      'Name it like "my-app" or "ghcr.io/me/app".',
    );
  if (name.length > NAME_MAX)
    throw new OpError(
      'image_name',
      `invalid image name "${name.slice(0, 40)}...": ${name.length} characters, more than the ${NAME_MAX} Docker accepts`,
      `Use a shorter name: at most ${NAME_MAX} characters with the registry host, without the tag.`,
    );
  if (!isImageName(name)) {
    throw new OpError(
      'image_name',
      `invalid image name "${name}": use lowercase letters, digits and separators (. _ -), optionally a registry host and / paths`,
      'Name it like "my-app" or "ghcr.io/me/app" (no uppercase letters, no spaces).',
    );
  }
}

export function checkTag(tag: string): void {
  if (typeof tag !== 'string')
    throw new OpError(
      'image_name',
      `the image tag must be a string (got ${JSON.stringify(tag)}, a ${typeof tag})`,
      'Give a tag like "1.0" or "latest".',
    );
  if (!isImageTag(tag))
    throw new OpError('image_name', `invalid image tag "${tag}"`, 'A tag is 1 to 128 of A-Z a-z 0-9 _ . - and does not start with . or -.');
}

/** Checks the name and tag before any work is done. */
export function checkInput(input: Pick<AssembleInput, 'name' | 'tag'>): void {
  checkName(input.name);
  if (input.tag !== undefined) checkTag(input.tag);
}

/** The config, image ID and tag for layers already measured (the base image's first). */
export function finishImage(input: AssembleInput, layers: MeasuredLayer[]): Assembled {
  const architecture = input.architecture ?? input.base?.config.architecture ?? goArch();
  const os = input.os ?? input.base?.config.os ?? 'linux';
  const { json, digest } = buildConfigJson({
    architecture,
    os,
    config: overlayBaseConfig(input.base?.config.config, input.config ?? {}),
    created: input.created.iso,
    layers,
    baseHistory: input.base?.config.history,
    baseLayerCount: input.base?.layers.length ?? 0,
  });
  const tag = input.tag ?? hexOf(digest).slice(0, 32);
  return {
    name: input.name,
    tag,
    architecture,
    os,
    layers,
    configJson: json,
    configDigest: digest,
    repoTags: [`${input.name}:${tag}`],
    mtime: input.created.epoch,
  };
}

/** `signal` stops the measuring of the layers (a pass over every byte). */
export async function assemble(input: AssembleInput, signal?: AbortSignal): Promise<Assembled> {
  checkInput(input);
  const own = await measureLayers(input.layers, signal);
  return finishImage(input, [...(input.base?.layers ?? []), ...own]);
}
