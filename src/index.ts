// Public API of nerves-docker-ts.
export { encodeFrame, FrameDecoder, FrameTooLargeError, MAX_FRAME_SIZE } from './protocol/frame.js';
export { encodeMessage, decodeMessage } from './protocol/codec.js';
export { PROTOCOL_VERSION } from './protocol/messages.js';
export { SidecarServer } from './sidecar/server.js';
export { OpError } from './sidecar/context.js';
export type { OpContext, OpHandler } from './sidecar/context.js';
export { packageVersion } from './version.js';
