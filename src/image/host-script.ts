// A shell script run on the host (extraCommands): /bin/sh -c in a given
// directory, no stdin, stdout and stderr captured together in the order they
// came, never printed (stdout may be carrying the image stream). It runs
// with umask 022, as a Nix builder does, so the modes of what it creates in
// a layer do not depend on the caller's umask, and with sh -e, as nixpkgs
// runs it: the first failing command stops it. The build's AbortSignal kills
// it, with whatever it started (its own process group), and waits for its end.
import { spawn } from 'node:child_process';
import { once } from 'node:events';

/** A script that failed: `shortMessage` says how (exit code, signal, or why the shell could not start). */
export class HostScriptError extends Error {
  constructor(
    readonly shortMessage: string,
    /** stdout and stderr, interleaved, without the final newline. */
    readonly all: string,
  ) {
    super(all ? `${shortMessage}\n${all}` : shortMessage);
    this.name = 'HostScriptError';
  }
}

/** Resolves when the script exits 0; else rejects with a HostScriptError, or once `abort` has killed it, with its reason. */
export async function runHostScript(script: string, cwd: string, abort?: AbortSignal): Promise<void> {
  abort?.throwIfAborted();
  // Set by the shell, on the script's first line (its line numbers stay), not process.umask(): that
  // would change this whole process's, and a worker thread may not.
  // With a signal, in a process group of its own, so that killing it kills what it started (a `sleep` would outlive sh).
  const child = spawn('/bin/sh', ['-e', '-c', `umask 022; ${script}`], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: abort !== undefined,
  });
  const kill = () => {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  abort?.addEventListener('abort', kill, { once: true });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stderr.on('data', (c: Buffer) => chunks.push(c));
  const all = () =>
    Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  let code: number | null;
  let signal: NodeJS.Signals | null;
  try {
    [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  } catch (err) {
    throw new HostScriptError(`/bin/sh could not start in ${cwd}: ${(err as Error).message}`, all());
  } finally {
    abort?.removeEventListener('abort', kill);
  }
  abort?.throwIfAborted();
  if (code === 0) return;
  const how = signal ? `was killed with ${signal}` : `failed with exit code ${code}`;
  throw new HostScriptError(`Command ${how}: /bin/sh -e -c ${JSON.stringify(script)}`, all());
}
