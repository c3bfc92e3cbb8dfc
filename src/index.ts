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
export { runJob } from './runner/job/run-job.js';
export type { JobKind, JobResult, StepResult } from './runner/job/run-job.js';
export { runClean, parseCleanSpec } from './runner/clean.js';
export type { CleanSpec } from './runner/clean.js';
export { runDoctor } from './runner/doctor.js';
export type { Check } from './runner/doctor.js';
export { HeadlineScanner, headlineOf } from './runner/output/headlines.js';

// The image toolkit.
export * from './image/index.js';
export { runImageCommand } from './cli/image.js';
