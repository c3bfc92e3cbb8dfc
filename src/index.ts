// Public API of nerves-docker-ts.

// The port protocol.
export { encodeFrame, FrameDecoder, FrameTooLargeError, MAX_FRAME_SIZE } from './protocol/frame.js';
export { encodeMessage, decodeMessage } from './protocol/codec.js';
export { PROTOCOL_VERSION } from './protocol/messages.js';
export { SidecarServer } from './sidecar/server.js';
export { OpError } from './errors.js';
export type { OpContext, OpHandler } from './protocol/op-context.js';
export { packageVersion } from './version.js';

// The build runner.
export {
  parseDockerVersion,
  tryParseDockerVersion,
  matchesRequirement,
  checkEngineVersion,
  DOCKER_REQUIREMENT,
  PODMAN_REQUIREMENT,
  DockerVersionError,
} from './runner/docker-version.js';
export type { DockerVersion } from './runner/docker-version.js';
export { parseJobSpec } from './runner/spec.js';
export type { JobSpec, DockerConfig } from './runner/spec.js';
// The job, clean and doctor are imported on first use: their code (the
// engine client, tar, the steps) took ~200 ms of the entry's ~280 to load,
// which the protocol's and the image toolkit's users need not pay.
import type * as RunJob from './runner/job/run-job.js';
export const runJob: typeof RunJob.runJob = async (...args) => (await import('./runner/job/run-job.js')).runJob(...args);
export type { JobKind, JobResult, StepResult } from './runner/job/run-job.js';
import type * as Clean from './runner/clean.js';
export const runClean: typeof Clean.runClean = async (...args) => (await import('./runner/clean.js')).runClean(...args);
export { parseCleanSpec } from './runner/clean-spec.js';
export type { CleanSpec } from './runner/clean-spec.js';
import type * as Doctor from './runner/doctor.js';
export const runDoctor: typeof Doctor.runDoctor = async (...args) => (await import('./runner/doctor.js')).runDoctor(...args);
export type { Check } from './runner/doctor.js';
export { HeadlineScanner, headlineOf } from './runner/output/headlines.js';

// The image toolkit.
export * from './image/index.js';
export { runImageCommand } from './cli/image.js';
