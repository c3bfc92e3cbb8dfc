// The artifact's sha256, computed in the build container right after make
// system wrote it (when the image has sha256sum), so that the bytes that
// come back through the Engine API can be checked against it.
import type Docker from 'dockerode';
import { readSmallFile } from '../../../engine/archive.js';
import { OpError } from '../../../errors.js';

/** make system, then `sha256sum` of the artifact into `<artifact>.sha256` (an old one removed first). */
export function withArtifactDigest(cmd: string[], artifact: string): string[] {
  const script =
    'a=$1; shift; rm -f -- "$a.sha256"; "$@" || exit; if command -v sha256sum >/dev/null 2>&1; then sha256sum -- "$a" >"$a.sha256" || rm -f -- "$a.sha256"; fi; exit 0';
  return ['/bin/sh', '-c', script, 'sh', artifact, ...cmd];
}

/** The hex digest written next to the artifact, or null when there is none. */
export async function readDigest(container: Docker.Container, artifact: string, signal?: AbortSignal): Promise<string | null> {
  const line = await readSmallFile(container, `${artifact}.sha256`, 4096, signal);
  const m = line && /^([0-9a-f]{64})\s/.exec(line.toString('latin1'));
  return m ? m[1]! : null;
}

/** The bytes received are not the artifact the container holds. */
export function damaged(got: string, expected: string): OpError {
  return new OpError(
    'artifact_corrupt',
    `The artifact received (sha256 ${got}) is not the one in the build container (sha256 ${expected}): it was damaged on the way.`,
    'Rerun the build: the build volume is kept, so only `make system` and the copy run again.',
  );
}
