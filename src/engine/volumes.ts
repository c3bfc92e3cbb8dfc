// Named volumes: the build tree of a package lives in one between builds.
import type { Engine } from './connect.js';
import { engineMessage, isNotFound } from './errors.js';
import { OpError } from '../errors.js';

export async function volumeExists(engine: Engine, name: string): Promise<boolean> {
  try {
    await engine.docker.getVolume(name).inspect();
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Creates the volume when it is missing; returns true when it was created. */
export async function ensureVolume(engine: Engine, name: string, labels: Record<string, string>): Promise<boolean> {
  if (await volumeExists(engine, name)) return false;
  try {
    await engine.docker.createVolume({ Name: name, Labels: labels });
    return true;
  } catch (err) {
    throw new OpError(
      'volume_create',
      `could not create docker volume ${name}: ${engineMessage(err)}`,
      "Check the engine's free space (`docker system df`) and its volume driver.",
    );
  }
}

/** Removes the volume; a volume that does not exist is not an error. Returns whether one was removed. */
export async function removeVolume(engine: Engine, name: string): Promise<boolean> {
  try {
    await engine.docker.getVolume(name).remove();
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw new OpError(
      'volume_remove',
      `Nerves Docker build_runner encountered an error while deleting volume ${name}: ${engineMessage(err)}`,
      'A container may still use it: `docker ps -a --filter volume=' + name + '` shows which.',
    );
  }
}
