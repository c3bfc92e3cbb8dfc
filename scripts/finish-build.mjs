// After tsc: make the CLI executable, and bundle the sidecar that
// priv/sidecar.mjs (committed) starts (scripts/bundle-sidecar.mjs).
import { chmodSync } from 'node:fs';

chmodSync(new URL('../dist/cli.js', import.meta.url), 0o755);
await import('./bundle-sidecar.mjs');
