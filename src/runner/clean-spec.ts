// The clean op's spec (app, build path, artifact cache path), checked before
// anything is deleted. Apart from clean.ts so that reading a spec does not
// load the engine client.
import { OpError } from '../errors.js';

export interface CleanSpec {
  app: string;
  build_path: string;
  cache_path: string;
}

const CLEAN_HINT = "Print the job spec with `mix nerves_docker_ts.spec > spec.json` in the system's directory and pass that.";

export function parseCleanSpec(input: unknown): CleanSpec {
  const raw = (input ?? {}) as Record<string, unknown>;
  for (const field of ['app', 'build_path', 'cache_path'] as const) {
    const v = raw[field];
    if (typeof v !== 'string' || v === '')
      throw new OpError('invalid_spec', `invalid clean spec: ${field} must be a non-empty string`, CLEAN_HINT);
    if (field !== 'app' && !v.startsWith('/'))
      throw new OpError('invalid_spec', `invalid clean spec: ${field} must be an absolute path, got "${v}"`, CLEAN_HINT);
  }
  return raw as unknown as CleanSpec;
}
