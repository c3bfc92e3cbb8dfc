// The package's own version, read once from package.json at the package's
// root (one level above tsc's dist/, the bundle's priv/ and src/ under the tests).
import { readFileSync } from 'node:fs';
import { OpError } from './errors.js';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached === undefined) {
    let pkg: { name?: string; version?: string } = {};
    try {
      pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as typeof pkg;
    } catch {
      // reported below
    }
    if (pkg.name !== 'nerves-docker-ts' || typeof pkg.version !== 'string') {
      throw new OpError('package_broken', 'nerves-docker-ts: package.json not found above dist/ or priv/', 'Reinstall nerves-docker-ts (or run `npm run build` in its checkout).');
    }
    cached = pkg.version;
  }
  return cached;
}
