// clean: removes the package's build containers and volume (with the volumes
// of its copied inputs), and its artifact cache directory. A volume that
// does not exist is not an error (upstream raises); .docker_id stays, as
// upstream keeps it. The cache path is checked first (clean-path.ts):
// nothing else is ever deleted.
import { readFile, rm } from 'node:fs/promises';
import { findContainers, removeContainer } from '../engine/containers.js';
import { LABEL } from '../engine/labels.js';
import { removeVolume } from '../engine/volumes.js';
import { type OpContext } from '../protocol/op-context.js';
import { dockerIdPath } from './job/docker-id.js';
import { inputVolumes, validVolumeName, volumeName } from './job/docker-id.js';
import { connectChecked } from './job/preflight.js';
import { dropAllHostRecords, dropHostRecord } from './job/inputs/sync/host-record.js';
import { removeStaleTokens } from './job/inputs/bind.js';
import { removeStaleFifoDirs } from './job/steps/fifo-output.js';
import { acquireLock } from './job/lock.js';
import { checkCachePath } from './clean-path.js';
import type { CleanSpec } from './clean-spec.js';

export { parseCleanSpec, type CleanSpec } from './clean-spec.js';

export async function runClean(spec: CleanSpec, ctx: Pick<OpContext, 'emit'>) {
  const cachePath = await checkCachePath(spec);
  const idFile = dockerIdPath(spec.build_path);
  const raw = await readFile(idFile, 'utf8').catch(() => null);
  const id = (raw ?? '').trim();
  let volume: string | null = null;
  let removedContainers = 0;
  let removedVolume = false;
  const removedInputs: string[] = [];
  if (id && !validVolumeName(spec.app, id)) {
    // Neither this runner nor upstream's makes such an id (a build replaces it): no volume can be named by it.
    ctx.emit(
      'warn',
      `${idFile} holds ${JSON.stringify(id.slice(0, 40))}, which no build volume can have as its id (${spec.app}-<id> is not a valid volume name): nothing to delete on the engine.`,
    );
  } else if (id) {
    volume = volumeName(spec.app, id);
    // clean mounts nothing: a remote engine is fine here. Connected first, so
    // that a dead engine is reported before anything says it is being deleted.
    const { engine } = await connectChecked();
    // A running build of this package holds the lock: refuse rather than pull its volume away.
    // Taken before the headline, so that a refused clean never says it is deleting anything.
    const lock = await acquireLock(spec.build_path, 'clean', (t) => ctx.emit('warn', t));
    try {
      ctx.emit('header', `Deleting build volume ${volume}`);
      for (const c of await findContainers(engine, { [LABEL.volume]: volume })) {
        await removeContainer(engine, c.Id);
        removedContainers++;
      }
      removedVolume = await removeVolume(engine, volume);
      if (!removedVolume) ctx.emit('info', `The build volume ${volume} did not exist.`);
      // The copied inputs of copy-mode builds (the shared downloads volume stays).
      for (const v of Object.values(inputVolumes(volume))) {
        if (await removeVolume(engine, v)) removedInputs.push(v);
        await dropHostRecord(spec.build_path, v); // this machine's record of what it left there
      }
      await removeRunnerFiles(spec.build_path);
    } finally {
      await lock.release();
    }
  } else {
    ctx.emit('info', `No build volume recorded for ${spec.app} (${idFile} ${raw === null ? 'does not exist' : 'is empty'}).`);
  }
  await rm(cachePath, { recursive: true, force: true });
  return {
    volume,
    removed_volume: removedVolume,
    removed_input_volumes: removedInputs,
    removed_containers: removedContainers,
    cache_path: spec.cache_path,
  };
}

/**
 * The runner's own files in the build path that killed jobs left (with the
 * lock held, no job of this package is live): FIFO directories and
 * visibility tokens of processes that are gone (a job waiting for the lock
 * may have made its FIFO directory already), and the records of copied
 * inputs (.ndt-inputs: their volumes were just removed).
 */
async function removeRunnerFiles(buildPath: string): Promise<void> {
  await Promise.all([
    removeStaleFifoDirs(buildPath),
    removeStaleTokens({ build_path: buildPath }, Date.now()),
    dropAllHostRecords(buildPath),
  ]);
}
