// Once for the whole vitest run: copy-mode builds keep Buildroot's downloads
// in a volume shared by every system built on the engine
// (nerves-docker-ts-downloads, by design never removed by clean). When this
// run made it, this run removes it: the engine is left as the tests found it.
import Docker from 'dockerode';
import { DEFAULT_DOWNLOADS_VOLUME } from '../src/runner/job/inputs/copy.js';

export default async function setup(): Promise<() => Promise<void>> {
  const docker = new Docker();
  const existed = await docker
    .getVolume(DEFAULT_DOWNLOADS_VOLUME)
    .inspect()
    .then(
      () => true,
      () => false,
    );
  return async () => {
    if (!existed)
      await docker
        .getVolume(DEFAULT_DOWNLOADS_VOLUME)
        .remove()
        .catch(() => {});
  };
}
