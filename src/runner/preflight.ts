// Checks on the host before anything is created: the paths the build mounts
// exist, the defconfig is there, the download dir can be written, and the
// engine answers with a version that meets the requirement.
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { engineDebug, openEngine, pingEngine, requireLocalEngine, type Engine } from '../engine/connect.js';
import { engineVersion, type EngineVersion } from '../engine/version.js';
import { OpError } from '../sidecar/context.js';
import { checkEngineVersion, DOCKER_REQUIREMENT } from './docker-version.js';
import type { JobSpec } from './spec.js';

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isDirectory() ?? false;
}

export async function checkHostInputs(spec: JobSpec, kind: 'build' | 'archive' | 'shell'): Promise<void> {
  if (!(await isDir(spec.pkg_path))) {
    throw new OpError('invalid_spec', `the package directory ${spec.pkg_path} does not exist`);
  }
  if (!(await isDir(spec.platform_path))) {
    throw new OpError(
      'platform_missing',
      `the platform (nerves_system_br) directory ${spec.platform_path} does not exist`,
      'Run `mix deps.get`, and check that the system depends on nerves_system_br.',
    );
  }
  if (kind !== 'archive') {
    const defconfig = join(spec.pkg_path, spec.defconfig);
    if (!(await stat(defconfig).catch(() => null))?.isFile()) {
      throw new OpError(
        'defconfig_missing',
        `the defconfig ${defconfig} does not exist`,
        'Set nerves_package platform_config: [defconfig: "nerves_defconfig"] to a file in the package.',
      );
    }
    const createBuild = join(spec.platform_path, 'create-build.sh');
    if (!(await stat(createBuild).catch(() => null))?.isFile()) {
      throw new OpError('platform_missing', `the platform has no create-build.sh (${createBuild})`, 'Check the nerves_system_br dependency.');
    }
  }
  if (!spec.downloads_volume) {
    try {
      await mkdir(spec.download_dir, { recursive: true });
      await access(spec.download_dir, constants.W_OK);
    } catch (err) {
      throw new OpError(
        'download_dir',
        `the download directory ${spec.download_dir} cannot be written: ${(err as Error).message}`,
        'Set NERVES_DL_DIR to a directory you can write, or fix its permissions.',
      );
    }
  }
}

/**
 * Finds the engine (NERVES_DEBUG=1 prints how), checks that it answers, that
 * it can see this machine's files (unless `hostFiles: false`: an op that
 * mounts nothing) and that its version meets the requirement.
 */
export async function connectChecked(opts: { hostFiles?: boolean } = {}): Promise<{ engine: Engine; version: EngineVersion }> {
  const engine = openEngine();
  // Both at once (one round trip less); a ping failure is the one to report.
  const [ping, answer] = await Promise.allSettled([pingEngine(engine), engineVersion(engine)]);
  if (ping.status === 'rejected') throw ping.reason;
  if (opts.hostFiles !== false) await requireLocalEngine(engine);
  if (answer.status === 'rejected') throw answer.reason;
  const version = answer.value;
  engineDebug(`${engine.where} (${engine.how}) is ${version.engine} ${version.version}, API ${version.apiVersion}, ${version.os}/${version.arch}`);
  const check = checkEngineVersion({ version: version.version, engine: version.engine });
  if (!check.ok) {
    throw new OpError('engine_version', check.message, version.engine === 'docker' ? `Install docker ${DOCKER_REQUIREMENT}.` : 'Install Podman 4.0 or newer.');
  }
  return { engine, version };
}
