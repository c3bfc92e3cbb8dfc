// doctor: checks everything a build needs and says, for each failed check,
// the command that fixes it.
import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import semverGte from 'semver/functions/gte.js';
import { engineLocality, openEngine, pingEngine, type Engine } from '../engine/connect.js';
import { inspectImage } from '../engine/images.js';
import { engineVersion } from '../engine/version.js';
import { chooseOutputMode } from './job/steps/fifo-output.js';
import { checkEngineVersion, DOCKER_REQUIREMENT, PODMAN_REQUIREMENT } from './docker-version.js';
import { formatBytes } from './output/reporter.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorOptions {
  image?: string | undefined;
  home?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

/** Free space below which a Buildroot build is likely to fail. */
export const MIN_FREE_BYTES = 20 * 1024 ** 3;

export async function runDoctor(opts: DoctorOptions = {}): Promise<Check[]> {
  const env = opts.env ?? process.env;
  const checks: Check[] = [];
  const nodeOk = semverGte(process.versions.node, '20.0.0');
  checks.push({
    name: 'node',
    ok: nodeOk,
    detail: `Node ${process.version} at ${process.execPath}`,
    fix: nodeOk ? undefined : 'Install Node 20 or newer, or point NERVES_DOCKER_TS_NODE at one.',
  });
  let engine: Engine;
  try {
    engine = openEngine(env);
    await pingEngine(engine, 5000);
    // How it was found: DOCKER_HOST, context NAME, rootless/default/podman socket (NERVES_DEBUG=1 shows the search).
    const locality = await engineLocality(engine, env);
    checks.push({
      name: 'engine',
      ok: locality.local,
      detail: `answers at ${engine.where} (${engine.how})${engine.remote ? `; ${locality.reason}` : ''}`,
      fix: locality.local
        ? undefined
        : 'A remote engine cannot see the files a build mounts: use a local engine (unset DOCKER_HOST, `docker context use default`), or set NERVES_DOCKER_TS_REMOTE_OK=1 if it shares this machine\'s paths.',
    });
  } catch (err) {
    checks.push({
      name: 'engine',
      ok: false,
      detail: (err as Error).message,
      fix:
        (err as { hint?: string | null }).hint ??
        'Start the engine (`sudo systemctl start docker`, Docker Desktop, colima), or run scripts/docker-engine, or set DOCKER_HOST.',
    });
    return checks;
  }
  const version = await engineVersion(engine);
  const v = checkEngineVersion({ version: version.version, engine: version.engine });
  checks.push({
    name: 'engine version',
    ok: v.ok,
    detail: v.ok
      ? `${version.engine} ${version.version} (API ${version.apiVersion}, ${version.os}/${version.arch}) meets ${version.engine === 'podman' ? PODMAN_REQUIREMENT : DOCKER_REQUIREMENT}`
      : v.message,
    fix: v.ok ? undefined : `Upgrade ${version.engine}.`,
  });
  try {
    const out = chooseOutputMode(engine, version, env);
    checks.push({
      name: 'step output',
      ok: true,
      detail: out.mode === 'fifo' ? `through FIFOs (${out.why})` : `through the exec stream (${out.why})`,
    });
  } catch (err) {
    checks.push({ name: 'step output', ok: false, detail: (err as Error).message, fix: (err as { hint?: string | null }).hint ?? undefined });
  }
  const info = (await engine.docker.info()) as { DockerRootDir?: string; SecurityOptions?: string[] };
  const root = info.DockerRootDir ?? '';
  if (root && existsSync(root)) {
    const fs = await statfs(root);
    const free = fs.bavail * fs.bsize;
    checks.push({
      name: 'disk',
      ok: free >= MIN_FREE_BYTES,
      detail: `${formatBytes(free)} free in the engine's data root ${root}`,
      fix: free >= MIN_FREE_BYTES ? undefined : 'Free space: `docker system prune` removes stopped containers, unused images and build cache.',
    });
  } else {
    checks.push({ name: 'disk', ok: true, detail: `the engine's data root ${root || '(unknown)'} is not on this machine; free space not checked` });
  }
  if (opts.image) {
    const img = await inspectImage(engine, opts.image);
    checks.push({
      name: 'image',
      ok: img !== null,
      detail: img ? `${opts.image} is present (${img.id.slice(7, 19)})` : `${opts.image} is not present`,
      fix: img ? undefined : 'The next build pulls or builds it (after a prompt); or `docker pull`/`docker load` it now.',
    });
  }
  const ssh = join(opts.home ?? homedir(), '.ssh');
  checks.push({
    name: 'ssh',
    ok: true,
    detail: existsSync(ssh) ? `${ssh} is mounted read-only at /home/nerves/.ssh` : `${ssh} does not exist; builds that fetch over ssh will lack keys`,
  });
  const rootless = (info.SecurityOptions ?? []).some((o) => o.includes('rootless'));
  const uid = process.getuid?.() ?? 0;
  checks.push({
    name: 'uid/gid',
    ok: true,
    detail: rootless
      ? `rootless engine: container root is your user (uid ${uid}); files in bind mounts belong to you`
      : `host uid ${uid}, gid ${process.getgid?.() ?? 0} are passed as UID/GID; new-style images run as their own user (nerves, 1005)`,
  });
  return checks;
}
