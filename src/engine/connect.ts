// Finds the Docker engine and checks that it answers. docker-modem reads
// DOCKER_HOST (unix, npipe, tcp with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, ssh);
// this module names the address it tried so that errors can say it.
import Docker from 'dockerode';
import { engineUnavailable } from './errors.js';

export interface Engine {
  docker: Docker;
  /** Where the engine was looked for, e.g. unix:///var/run/docker.sock. */
  where: string;
}

export const DEFAULT_SOCKET = '/var/run/docker.sock';

export function engineAddress(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  return host && host.length > 0 ? host : `unix://${DEFAULT_SOCKET}`;
}

/** Creates a client for the engine named by the environment; does not contact it. */
export function openEngine(env: NodeJS.ProcessEnv = process.env): Engine {
  const where = engineAddress(env);
  try {
    return { docker: new Docker(), where };
  } catch (err) {
    throw engineUnavailable(where, err);
  }
}

/** Pings the engine within a deadline; throws an OpError naming the address when it does not answer. */
export async function pingEngine(engine: Engine, timeoutMs = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([engine.docker.ping(), deadline]);
  } catch (err) {
    throw engineUnavailable(engine.where, err);
  } finally {
    clearTimeout(timer);
  }
}
