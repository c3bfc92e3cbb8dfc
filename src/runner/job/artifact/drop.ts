// The artifact from the drop directory (an engine on this kernel): make
// system also copied it into a directory of this host that the container
// can write (see ../steps/fifo-output.ts), so no archive request is needed.
import { constants, createWriteStream } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import type Docker from 'dockerode';
import { pipeline } from 'node:stream/promises';
import type { Step } from '../context.js';
import { interrupted } from './archive.js';
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
 * swapped between the check and the read cannot bring in other bytes. Its
 * owner must be one of `owners` (see dropOwners): the drop directory is
 * writable by any uid and its path shows in the container's command line, so
 * another local user could put a file there before the step's copy. An
 * abort of `signal` stops the copy at once, and nothing is renamed into place.
 */
export async function takeDroppedArtifact(
  dropPath: string,
  destPath: string,
  owners: readonly number[],
  signal?: AbortSignal,
): Promise<number | null> {
  if (signal?.aborted) throw interrupted();
  // O_NONBLOCK: a FIFO there must not hold the open up (it means nothing for a regular file).
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  const fh = await open(dropPath, flags).catch(() => null); // ENOENT; ELOOP for a symlink
  try {
    const st = fh ? await fh.stat() : null;
    if (!fh || !st?.isFile() || !owners.includes(st.uid)) return null;
    // A copy, not a rename: the step's uid owns the dropped file, the user must own the artifact. Bytes
    // into a file this process creates, not copyFile: libuv >= 1.50 (Debian trixie's Node) gives
    // copyFile's result the source's owner when it can (as root), which made the artifact the image user's.
    const stopped = () => {
      if (signal?.aborted) throw interrupted();
    };
    return await writeAtomically(
      destPath,
      async (tmp) => {
        try {
          await pipeline(fh.createReadStream({ autoClose: false }), createWriteStream(tmp, { flags: 'wx', mode: 0o644 }), {
            ...(signal ? { signal } : {}),
          });
        } catch (err) {
          stopped();
          throw err;
        }
      },
      stopped, // not renamed into place after an interrupt
    );
  } finally {
    await fh?.close();
    // The symlink itself, not its target; a directory stays (the FIFO directory's removal takes it).
    await rm(dropPath, { force: true }).catch(() => {});
  }
}

/**
 * Whose dropped file is taken: the uids of the container's first process as
 * this host sees them (/proc/PID/status: the image's user, mapped by a user
 * namespace if any), root and this process's uid. Without that process (not
 * in this PID namespace), only the last two: another uid's file then goes the
 * archive way, slower but checked.
 */
export async function dropOwners(container: Pick<Docker.Container, 'inspect'>): Promise<number[]> {
  const owners = new Set([0, process.getuid?.() ?? 0]);
  const pid = await container.inspect().then(
    (i) => i.State?.Pid ?? 0,
    () => 0,
  );
  if (pid > 0) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const uids = /^Uid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
    for (const u of uids) if (/^\d+$/.test(u)) owners.add(Number(u));
  }
  return [...owners];
}
