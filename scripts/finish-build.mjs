// After tsc: make the CLI executable. priv/sidecar.mjs (committed) loads the
// compiled sidecar from dist/.
import { chmodSync } from 'node:fs';

chmodSync(new URL('../dist/cli.js', import.meta.url), 0o755);
