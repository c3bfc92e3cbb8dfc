// The artifact from the drop directory (an engine on this kernel): make
// system also copied it into a directory of this host that the container
// can write (see ../steps/fifo-output.ts), so no archive request is needed.
import { constants, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
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
 * null when it is not there (the step could not copy it), or when what is
 * there is not a regular file (a symlink, a FIFO: not what the step's cp
 * makes), so the caller falls back to the archive request. Opened without
 * following a symlink, checked and read through the same descriptor: a name
 * swapped between the check and the read cannot bring in other bytes.
 */
export async function takeDroppedArtifact(dropPath: string, destPath: string): Promise<number | null> {
  // O_NONBLOCK: a FIFO there must not hold the open up (it means nothing for a regular file).
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  const fh = await open(dropPath, flags).catch(() => null); // ENOENT; ELOOP for a symlink
  try {
    if (!fh || !(await fh.stat()).isFile()) return null;
    // A copy, not a rename: the step's uid owns the dropped file, the user must own the artifact. Bytes
    // into a file this process creates, not copyFile: libuv >= 1.50 (Debian trixie's Node) gives
    // copyFile's result the source's owner when it can (as root), which made the artifact the image user's.
    return await writeAtomically(destPath, (tmp) =>
      pipeline(fh.createReadStream({ autoClose: false }), createWriteStream(tmp, { flags: 'wx', mode: 0o644 })),
    );
  } finally {
    await fh?.close();
    // The symlink itself, not its target; a directory stays (the FIFO directory's removal takes it).
    await rm(dropPath, { force: true }).catch(() => {});
  }
}
