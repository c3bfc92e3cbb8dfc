// The artifact from the drop directory (an engine on this kernel): make
// system also copied it into a directory of this host that the container
// can write (see ../steps/fifo-output.ts), so no archive request is needed.
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Step } from '../context.js';
import { writeAtomically } from './write-atomically.js';

/**
 * A step command that, once it succeeded, copies the artifact to `drop`.
 * Any failure of the copy only removes the partial copy: the runner then
 * fetches the artifact through the Engine API instead.
 */
export function withArtifactDrop(cmd: string[], artifact: string, drop: string): string[] {
  return [
    '/bin/sh',
    '-c',
    'a=$1 d=$2; shift 2; "$@" || exit; cp -- "$a" "$d" 2>/dev/null || rm -f -- "$d"; exit 0',
    'sh',
    artifact,
    drop,
    ...cmd,
  ];
}

/** `step` with the drop added when it is the one that makes the artifact. */
export function dropAfter(step: Step, artifactStep: string, artifact: string, drop: string): Step {
  return step.name === artifactStep ? { ...step, cmd: withArtifactDrop(step.cmd, artifact, drop) } : step;
}

/**
 * The artifact a step left on this host, copied into place as our own file;
 * null when it is not there (the step could not copy it), so the caller
 * falls back to the archive request.
 */
export async function takeDroppedArtifact(dropPath: string, destPath: string): Promise<number | null> {
  const found = await stat(dropPath).then(
    (s) => s.isFile(),
    () => false,
  );
  if (!found) return null;
  try {
    // A copy, not a rename: the step's uid owns the dropped file, the user must own the artifact. Bytes
    // into a file this process creates, not copyFile: libuv >= 1.50 (Debian trixie's Node) gives
    // copyFile's result the source's owner when it can (as root), which made the artifact the image user's.
    return await writeAtomically(destPath, (tmp) =>
      pipeline(createReadStream(dropPath), createWriteStream(tmp, { flags: 'wx', mode: 0o644 })),
    );
  } finally {
    await rm(dropPath, { force: true });
  }
}
