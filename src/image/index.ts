// Public API of the image toolkit (re-exported from the package entry).

// Builders
export { buildImage } from './build-image.js';
export type { ImageOptions, BuildImageOptions } from './build-image.js';
export { buildLayeredImage, streamLayeredImage } from './layered.js';
export type { LayeredImageOptions, BuildLayeredImageOptions, StreamedImage } from './layered.js';
export type { OutputOptions, ImageResult, ImageFormat } from './output.js';
export type { ImageRuntimeConfig } from './config.js';
export { referencesByPopularity } from './popularity.js';
export type { ClosureNode } from './popularity.js';
export type { LayeringStrategy } from './layering.js';

// Registry, flattening, accounts, runtime bundles
export { pullImage } from './pull.js';
export type { PullImageOptions, PullResult } from './pull.js';
export type { Credentials } from './registry.js';
export { exportImage } from './export-image.js';
export type { ExportImageOptions, ExportResult } from './export-image.js';
export { shadowSetup, addUser, addGroup, shadowSetupScript } from './shadow.js';
export type { ShadowSetupOptions, UserSpec, GroupSpec } from './shadow.js';
export { buildContainer } from './container.js';
export type { ContainerOptions, ContainerResult, MountSpec } from './container.js';

// Engine helpers for the runner, and the CLI (the engine calls live in
// src/engine/images.ts). The engine client (dockerode) is imported on first
// use: importing it costs more than the rest of the toolkit, and building to
// a file or a stream does not need it.
import type * as EngineImages from '../engine/images.js';
export const loadImageArchive: typeof EngineImages.loadImageArchive = async (...args) =>
  (await import('../engine/images.js')).loadImageArchive(...args);
export const loadImageStream: typeof EngineImages.loadImageStream = async (...args) =>
  (await import('../engine/images.js')).loadImageStream(...args);
export type { DockerClient as Engine } from '../engine/images.js';
/**
 * The engine the runner and the CLI use (DOCKER_HOST, the Docker context,
 * then the usual sockets), for loadImageStream: checked to answer as an engine, as the
 * CLI's --load does before it builds anything (else engine_unavailable, or
 * engine_ssh, with what to do).
 */
export const defaultEngine = async (): Promise<EngineImages.DockerClient> => {
  const { answeringEngine } = await import('../engine/connect.js');
  return (await answeringEngine()).docker;
};
export { ensureImage } from './ensure-image.js';
export { parsePinnedReference } from './reference.js';
export type { ImageSource, EnsureImageOptions } from './ensure-image.js';
