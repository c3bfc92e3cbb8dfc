// Runs one command inside a running container (POST /containers/{id}/exec),
// streaming its stdout and stderr, in order, into a sink, and returns its
// exit status. Exec output does not pass through the engine's log driver.
// A caller whose output says when the command got to its end (the step
// driver's markers) can tell a stream cut by the connection from the
// command's end: the engine goes on running the command, and then reports
// an exit status of its own (dockerd: 126), not the command's.
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import type { ChunkSink } from '../chunk-sink.js';
import { demuxInto } from './demux.js';
import { engineMessage, statusOf } from './errors.js';
import { OpError } from '../errors.js';

export interface ExecSpec {
  cmd: string[];
  env?: string[] | undefined;
  user?: string | undefined;
  workingDir?: string | undefined;
}

export interface ExecOptions {
  /**
   * Called once the output stream has ended: false when the output shows
   * that the command had not got to its end. Unless the
   * engine then reports the command killed by a signal (status 128 or
   * more), runExec throws ExecStreamLost rather than a status.
   */
  complete?: () => boolean;
  /** An interrupt: the output stream is let go at once (whatever the connection does), and runExec rejects. */
  signal?: AbortSignal | undefined;
}

/** The errors of a connection that failed under a stream (demux.ts's own for a close before the end included). */
const CONNECTION_ERRORS = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** How long an exec whose stream was cut may take to be reported killed by a signal before the cut is taken for the cause. */
const CUT_GRACE_MS = 10_000;

/** The exec's output stream ended before the command did (the connection to the engine dropped): no status to report. */
export class ExecStreamLost extends Error {
  constructor(
    readonly cmd: string,
    /** What the engine reported then: the status it gave, or that the command still ran. */
    readonly engineSaid: string,
    /** The status the engine gave (not the command's own), or null while it still ran. */
    readonly status: number | null,
  ) {
    super(`the output stream of ${cmd} in the build container ended before ${cmd} did (${engineSaid})`);
  }
}

export async function runExec(container: Docker.Container, spec: ExecSpec, sink: ChunkSink, opts: ExecOptions = {}): Promise<number> {
  const { signal } = opts;
  const interrupted = () => new OpError('interrupted', `${spec.cmd[0]} in the build container was interrupted`);
  if (signal?.aborted) throw interrupted();
  // The requests that create and start the exec take the interrupt too: over a link gone silent their answers may never come.
  const abort = signal ? { abortSignal: signal } : {};
  let exec: Docker.Exec;
  let stream: Readable;
  try {
    exec = await container.exec({
      ...abort,
      Cmd: spec.cmd,
      Env: spec.env,
      User: spec.user,
      WorkingDir: spec.workingDir,
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: false,
      Tty: false,
    });
    stream = (await exec.start({ hijack: true, stdin: false, Detach: false, Tty: false, ...abort })) as Readable;
  } catch (err) {
    if (signal?.aborted) throw interrupted();
    // No HTTP answer: left uncoded, so that the job can tell a lost engine (engine_lost) from the rest.
    if (statusOf(err) === undefined) throw new Error(`could not run ${spec.cmd[0]} in the build container: ${engineMessage(err)}`);
    throw new OpError(
      'container_exec',
      `could not run ${spec.cmd[0]} in the build container: ${engineMessage(err)}`,
      'The build container stopped or the engine refused the exec: see the message, and build.log for what ran before.',
    );
  }
  const onAbort = () => stream.destroy(interrupted());
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await demuxInto(stream, sink);
  } catch (err) {
    // The connection failed under the stream (a reset, a broken pipe): told below, as a stream that ended.
    // The sink's failure or an interrupt is thrown as it is.
    if (signal?.aborted || opts.complete === undefined || !CONNECTION_ERRORS.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  // A stream that failed with its connection, or ended, before the command got to its end was cut; one
  // that failed after the command's end lost nothing: its status is asked for as usual.
  const cut = opts.complete !== undefined && !opts.complete();
  // The stream can end a moment before the engine records the exit code; a
  // slow engine may take a while, so poll with backoff for up to a minute.
  const deadline = Date.now() + (cut ? CUT_GRACE_MS : 60_000);
  for (let delay = 5; ; delay = Math.min(delay * 2, 500)) {
    if (signal?.aborted) throw interrupted();
    const info = await exec.inspect(abort).catch((err: unknown) => {
      throw signal?.aborted ? interrupted() : err;
    });
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) {
      if (cut && info.ExitCode < 128) throw new ExecStreamLost(spec.cmd[0]!, `the engine reported status ${info.ExitCode}`, info.ExitCode);
      return info.ExitCode;
    }
    if (cut && Date.now() > deadline) throw new ExecStreamLost(spec.cmd[0]!, 'it still ran there', null);
    if (Date.now() > deadline)
      throw new OpError(
        'engine_answer',
        `the engine did not report how ${spec.cmd[0]} ended within 60 s`,
        'The engine is overloaded or stuck: check it (`docker info`) and build again.',
      );
    await new Promise((r) => setTimeout(r, delay));
  }
}
