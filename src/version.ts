// The package's own version, read once from package.json next to dist/ (from
// dist/ or from the sidecar bundle's dist/bundle/).
import { readFileSync } from 'node:fs';
import { OpError } from './errors.js';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached === undefined) {
    // dist/version.js, or a chunk of the sidecar bundle in dist/bundle/.
    for (const rel of ['../package.json', '../../package.json']) {
      try {
        const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version: string };
        if (pkg.name === 'nerves-docker-ts') {
          cached = pkg.version;
          break;
        }
      } catch {
        // not there: the next candidate
      }
    }
    if (cached === undefined) throw new OpError('package_broken', 'nerves-docker-ts: package.json not found next to dist/', 'Reinstall nerves-docker-ts (or run `npm run build` in its checkout).');
  }
  return cached;
}
