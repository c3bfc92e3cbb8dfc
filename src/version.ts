// The package's own version, read once from package.json at the package's
// root (one level above tsc's dist/ and the bundle's priv/).
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached === undefined) {
    // dist/version.js, a chunk of the bundle in priv/, or src/version.ts under the tests.
    for (const rel of ['../package.json']) {
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
    if (cached === undefined) throw new Error('nerves-docker-ts: package.json not found above dist/ or priv/');
  }
  return cached;
}
