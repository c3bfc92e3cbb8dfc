// runAsRoot and fakeRootCommands run in a container on the engine: when the
// caller gives no engine, the one the CLI would use (DOCKER_HOST, the Docker
// context, the local socket) is checked to answer before anything is built,
// as stream-layered-image --load checks it, so that its failure names the
// engine tried and how to point at another, not a later `docker load`.
import type { DockerClient } from '../engine/images.js';
import { OpError } from '../errors.js';

export async function engineFor(what: 'runAsRoot' | 'fakeRootCommands', given: DockerClient | undefined): Promise<DockerClient> {
  if (given) return given;
  const { answeringEngine } = await import('../engine/connect.js');
  try {
    return (await answeringEngine()).docker;
  } catch (err) {
    if (!(err instanceof OpError)) throw err;
    throw new OpError(err.code, `${what} runs in a container on the engine, which does not answer: ${err.message}`, err.hint);
  }
}
