// Public API of the image toolkit (re-exported from the package entry).
export { buildLayeredImage, streamLayeredImage } from "./layered.js";
export type { LayeredImageOptions, BuildLayeredImageOptions, StreamedImage } from "./layered.js";
export type { OutputOptions, ImageResult, ImageFormat } from "./output.js";
export type { ImageRuntimeConfig } from "./config.js";
export type { ClosureNode } from "./popularity.js";
export { referencesByPopularity } from "./popularity.js";
export { buildImage } from "./build-image.js";
export type { ImageOptions, BuildImageOptions } from "./build-image.js";
export { exportImage } from "./export-image.js";
export type { ExportImageOptions, ExportResult } from "./export-image.js";
export { shadowSetup, addUser, addGroup, shadowSetupScript } from "./shadow.js";
export type { ShadowSetupOptions, UserSpec, GroupSpec } from "./shadow.js";
export { buildContainer } from "./container.js";
export type { ContainerOptions, ContainerResult, MountSpec } from "./container.js";
export { pullImage } from "./pull.js";
export type { PullImageOptions, PullResult } from "./pull.js";
export type { Credentials } from "./registry.js";
export { runImageCommand } from "./cli.js";
