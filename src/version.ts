// The package's own version: built into the esbuild bundles, else read once
// from package.json at the package's root (one level above tsc's dist/ and
// src/ under the tests).
import { readFileSync } from 'node:fs';
import { OpError } from './errors.js';

/** Set by the esbuild bundles (scripts/bundle.mjs): the shipped sidecar has no package.json above it. */
declare const __NDT_VERSION__: string | undefined;

let cached: string | undefined = typeof __NDT_VERSION__ === 'string' ? __NDT_VERSION__ : undefined;

export function packageVersion(): string {
  if (cached === undefined) {
    let pkg: { name?: string; version?: string } = {};
    try {
      pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as typeof pkg;
    } catch {
      // reported below
    }
    if (pkg.name !== 'nerves-docker-ts' || typeof pkg.version !== 'string') {
      throw new OpError(
        'package_broken',
        'nerves-docker-ts: package.json not found above dist/ or priv/',
        'Reinstall nerves-docker-ts (or run `npm run build` in its checkout).',
      );
    }
    cached = pkg.version;
  }
  return cached;
}
