// The example's build images, made sure of by each test file that needs them
// (a fresh engine has none): built from examples/platform/support/docker's
// Dockerfiles (FROM scratch, ADD rootfs.tar: make-rootfs makes it from this
// host's binaries, no registry needed) or loaded from the docker-archive that
// make-layered-image wrote, with the runner's own engine code.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { openEngine, type Engine } from '../../../src/engine/connect.js';
import { contextTar } from '../../../src/engine/build-context.js';
import { buildImageFromContext, inspectImage, loadImageArchive } from '../../../src/engine/images.js';
import { LEGACY_TAG, NEW_TAG, ROOT } from './example.js';

export const LAYERED_TAG = 'localhost/nerves-docker-ts/example-br-layered:0.1.0';

// Read at call time: example.ts and this module import each other.
const dockerDir = () => join(ROOT, 'examples/platform/support/docker');
const contextOf = (tag: string) => join(dockerDir(), tag === LEGACY_TAG ? 'legacy' : 'nerves_system_br');

/** rootfs.tar next to the Dockerfile: copied from the script's folder, made by make-rootfs if missing there too. */
function ensureRootfs(context: string): void {
  if (existsSync(join(context, 'rootfs.tar'))) return;
  const made = join(dockerDir(), 'rootfs.tar');
  if (!existsSync(made)) execFileSync(join(dockerDir(), 'make-rootfs'), { stdio: ['ignore', 'ignore', 'inherit'] });
  if (!existsSync(join(context, 'rootfs.tar'))) copyFileSync(made, join(context, 'rootfs.tar'));
}

async function ensureImage(engine: Engine, tag: string): Promise<void> {
  if (await inspectImage(engine, tag)) return;
  if (tag === LAYERED_TAG) {
    const archive = join(dockerDir(), 'example-br.tar');
    if (!existsSync(archive)) execFileSync(join(dockerDir(), 'make-layered-image'), { stdio: ['ignore', 'ignore', 'inherit'] });
    await loadImageArchive(archive, { docker: engine.docker });
  } else if (tag === NEW_TAG || tag === LEGACY_TAG) {
    const context = contextOf(tag);
    ensureRootfs(context);
    let output = '';
    await buildImageFromContext(
      engine,
      await contextTar(context, 'Dockerfile'),
      { tag, dockerfile: 'Dockerfile' },
      (t) => void (output += t),
    );
    if (/^ERROR: /m.test(output)) throw new Error(`building ${tag} failed:\n${output}`);
  } else {
    throw new Error(`ensureExampleImages: ${tag} is not an example image`);
  }
  if (!(await inspectImage(engine, tag))) throw new Error(`the example image ${tag} is not in the engine after it was made`);
}

/**
 * Makes sure the example images `tags` are in the engine the environment
 * names (call it in beforeAll, before pointing DOCKER_HOST at a proxy).
 */
export async function ensureExampleImages(tags: string[] = [NEW_TAG, LEGACY_TAG], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const engine = openEngine(env);
  for (const tag of tags) await ensureImage(engine, tag);
}
