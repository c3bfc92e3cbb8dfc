// Runs one command inside a running container (POST /containers/{id}/exec),
// streaming its stdout and stderr, in order, into a sink, and returns its
// exit status. Exec output does not pass through the engine's log driver.
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

export async function runExec(container: Docker.Container, spec: ExecSpec, sink: ChunkSink): Promise<number> {
  let exec: Docker.Exec;
  let stream: Readable;
  try {
    exec = await container.exec({
      Cmd: spec.cmd,
      Env: spec.env,
      User: spec.user,
      WorkingDir: spec.workingDir,
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: false,
      Tty: false,
    });
    stream = (await exec.start({ hijack: true, stdin: false, Detach: false, Tty: false })) as Readable;
  } catch (err) {
    // No HTTP answer: left uncoded, so that the job can tell a lost engine (engine_lost) from the rest.
    if (statusOf(err) === undefined) throw new Error(`could not run ${spec.cmd[0]} in the build container: ${engineMessage(err)}`);
    throw new OpError(
      'container_exec',
      `could not run ${spec.cmd[0]} in the build container: ${engineMessage(err)}`,
      'The build container stopped or the engine refused the exec: see the message, and build.log for what ran before.',
    );
  }
  await demuxInto(stream, sink);
  // The stream can end a moment before the engine records the exit code; a
  // slow engine may take a while, so poll with backoff for up to a minute.
  const deadline = Date.now() + 60_000;
  for (let delay = 5; ; delay = Math.min(delay * 2, 500)) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
    if (Date.now() > deadline)
      throw new OpError(
        'engine_answer',
        `the engine did not report how ${spec.cmd[0]} ended within 60 s`,
        'The engine is overloaded or stuck: check it (`docker info`) and build again.',
      );
    await new Promise((r) => setTimeout(r, delay));
  }
}
