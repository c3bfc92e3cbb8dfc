// dockerode, the engine client. Every process this package starts runs from
// the esbuild bundle in priv/ (scripts/bundle.mjs), which loads dockerode
// without what only rare paths need (gRPC for BuildKit sessions, ssh2 for
// ssh:// engines) until they are used; tsc's dist/ (the library API) loads
// dockerode as it is.
import Docker from 'dockerode';

export default Docker;
