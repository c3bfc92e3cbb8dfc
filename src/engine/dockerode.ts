// dockerode, the engine client. Every process this package starts runs from
// the esbuild bundle in priv/ (scripts/bundle.mjs), which loads dockerode
// without what only rare paths need (gRPC for BuildKit sessions, ssh2 for
// ssh:// engines) until they are used; tsc's dist/ (the library API) does
// the same at run time (defer-rare.ts).
import './defer-rare.js';
import Docker from 'dockerode';

export default Docker;
