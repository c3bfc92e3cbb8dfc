// The execs of the system shell: a captured TTY exec for preparing the build
// dir (create-build.sh wants a terminal), a plain one for one-off commands
// without a terminal, the interactive attach (raw stream, no demux, resized
// with the window), the Nerves rcfile copied in, and exit codes.
import type Docker from 'dockerode';
import type { Duplex, Readable, Writable } from 'node:stream';
import { FrameSplitter } from '../../engine/demux.js';
import { engineMessage, isNotFound } from '../../engine/errors.js';
import { END_OF_ARCHIVE, entryHeader, padding } from '../../image/tar-writer.js';
import { OpError } from '../../errors.js';
import type { Terminal, TerminalSize } from './tty.js';

export const RC_DIR = '/tmp';
export const RC_NAME = 'nerves-shell.bashrc';
export const RC_PATH = `${RC_DIR}/${RC_NAME}`;

// Upstream's prompts (with \[ \] around the escapes so that readline counts
// the width right). bash reads this file instead of ~/.bashrc (which it
// sources first): nothing is appended to ~/.bashrc, however many shells run.
export const RC_TEXT = `# Written by nerves-docker-ts for the Nerves system shell.
if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
PS1='\\[\\e[1;7m\\] Nerves \\[\\e[0;1m\\] \\W > \\[\\e[0m\\]'
PS2='\\[\\e[1;7m\\] Nerves \\[\\e[0;1m\\] \\W ..\\[\\e[0m\\]'
`;

export interface ExecCmd {
  cmd: string[];
  env?: string[] | undefined;
  workingDir: string;
}

const SHELL_RETRY_HINT = 'Open the shell again; if it fails again, check the engine (`docker info`) and its free space.';

/** Copies the rcfile into the container (a one-file tar through the archive API). */
export async function installRcFile(container: Docker.Container): Promise<void> {
  const data = Buffer.from(RC_TEXT);
  const header = entryHeader({
    name: RC_NAME,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    uname: 'root',
    gname: 'root',
    mtime: 0,
    size: data.length,
  });
  const tar = Buffer.concat([header, data, padding(data.length), END_OF_ARCHIVE]);
  try {
    await container.putArchive(tar, { path: RC_DIR });
  } catch (err) {
    throw new OpError(
      'shell_setup',
      `could not write the shell's rcfile into the build container: ${engineMessage(err)}`,
      SHELL_RETRY_HINT,
    );
  }
}

/** The exit code of a finished exec (its stream can end a moment before the engine records it). */
export async function exitCodeOf(exec: Docker.Exec, what: string): Promise<number> {
  for (let i = 0; ; i++) {
    let info: Docker.ExecInspectInfo;
    try {
      info = await exec.inspect();
    } catch (err) {
      if (isNotFound(err))
        throw new OpError(
          'shell_lost',
          `the build container went away while ${what} ran`,
          'Something removed the build container (docker rm, a prune): open the shell again.',
        );
      throw err;
    }
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
    if (i > 300) throw new OpError('shell_lost', `the engine did not report how ${what} ended`, SHELL_RETRY_HINT);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function createExec(container: Docker.Container, spec: ExecCmd, tty: boolean, stdin: boolean): Promise<Docker.Exec> {
  try {
    return await container.exec({
      Cmd: spec.cmd,
      Env: spec.env,
      WorkingDir: spec.workingDir,
      AttachStdin: stdin,
      AttachStdout: true,
      AttachStderr: true,
      Tty: tty,
    });
  } catch (err) {
    throw new OpError('shell_exec', `could not run ${spec.cmd.join(' ')} in the build container: ${engineMessage(err)}`, SHELL_RETRY_HINT);
  }
}

/** Runs a command on a pseudo-terminal without input; every byte of its output goes to `sink` (\r\n as \n). */
export async function runCaptured(container: Docker.Container, spec: ExecCmd, sink: Writable): Promise<number> {
  const exec = await createExec(container, spec, true, false);
  const stream = (await exec.start({ hijack: true, stdin: false, Tty: true })) as Readable;
  await new Promise<void>((resolve) => {
    stream.on('data', (d: Buffer) => sink.write(Buffer.from(d.toString('latin1').replace(/\r\n/g, '\n'), 'latin1')));
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
  return exitCodeOf(exec, spec.cmd[0] ?? 'the command');
}

/**
 * Runs a one-off command without a terminal: its stdout and stderr, split by
 * the stream headers (demux.ts's FrameSplitter), go to `onData` in pieces as
 * they arrive (a frame cut between two reads comes as two pieces).
 */
export async function runPlain(
  container: Docker.Container,
  spec: ExecCmd,
  onData: (stream: 'stdout' | 'stderr', data: Buffer) => void,
): Promise<number> {
  const exec = await createExec(container, spec, false, false);
  const stream = (await exec.start({ hijack: true, stdin: false, Tty: false })) as Readable;
  const frames = new FrameSplitter();
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      const streams: number[] = [];
      const pieces = frames.payloads(chunk, streams);
      for (let i = 0; i < pieces.length; i++) onData(streams[i] === 2 ? 'stderr' : 'stdout', pieces[i]!);
    });
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', reject);
  });
  return exitCodeOf(exec, spec.cmd[0] ?? 'the command');
}

/** Where the keystrokes come from: the terminal itself, or frames the plugin relays (see shell.ts). */
export interface InputSource {
  /** Starts delivering input to `feed`; returns the stopper. */
  start(feed: (data: Buffer) => void): () => void;
}

export function terminalInput(terminal: Terminal): InputSource {
  return {
    start(feed) {
      terminal.input.on('data', feed);
      terminal.input.resume();
      return () => {
        terminal.input.off('data', feed);
        terminal.input.pause();
      };
    },
  };
}

async function resizeExec(exec: Docker.Exec, size: TerminalSize): Promise<void> {
  // The exec may not be running yet right after start: retry briefly, as the docker CLI does.
  for (let i = 0; i < 10; i++) {
    try {
      await exec.resize({ h: size.rows, w: size.cols });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * Runs a command on a pseudo-terminal attached to the user's terminal (raw
 * mode while attached, restored before returning on every path) and returns
 * its exit status. `signal` ends the attach (the caller removes the container).
 */
export async function runAttached(
  container: Docker.Container,
  spec: ExecCmd,
  terminal: Terminal,
  input: InputSource,
  signal: AbortSignal,
): Promise<number> {
  const exec = await createExec(container, spec, true, true);
  let stream: Duplex;
  try {
    stream = (await exec.start({ hijack: true, stdin: true, Tty: true })) as Duplex;
  } catch (err) {
    throw new OpError('shell_exec', `could not attach to ${spec.cmd[0]} in the build container: ${engineMessage(err)}`, SHELL_RETRY_HINT);
  }
  // The connection failing (a link that died, found by the engine client's pings) ends the shell: its status cannot
  // be asked for over the same link, so that error is the one to tell.
  let lost: unknown = null;
  const ended = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', (err) => {
      lost = err;
      resolve();
    });
  });
  let stopInput = () => {};
  let stopWatch = () => {};
  const onAbort = () => stream.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    terminal.setRaw(true);
    stream.on('data', (d: Buffer) => terminal.write(d));
    stopInput = input.start((d) => {
      if (!stream.destroyed) stream.write(d);
    });
    await resizeExec(exec, terminal.size());
    stopWatch = terminal.watchSize((size) => void resizeExec(exec, size));
    await ended;
  } finally {
    signal.removeEventListener('abort', onAbort);
    stopWatch();
    stopInput();
    terminal.setRaw(false);
    stream.destroy();
  }
  if (signal.aborted) throw signal.reason instanceof OpError ? signal.reason : new OpError('interrupted', 'the shell was interrupted');
  if (lost)
    throw new OpError(
      'engine_lost',
      `The connection to the shell in the build container was lost: ${engineMessage(lost)}`,
      'Check that the engine runs and that this machine still reaches it (network, VPN, ssh), then open the shell again; the build volume is kept.',
    );
  return exitCodeOf(exec, spec.cmd[0] ?? 'the shell');
}
