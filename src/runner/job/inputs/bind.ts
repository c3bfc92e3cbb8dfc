// Inputs as bind mounts of this machine's directories: the engine must see
// them (an engine on this machine, or one that shares its files). When auto
// chose bind because the address says "this machine", it is checked: a
// token file written into the build path just before the container is
// created must be visible through the created container's archive API.
import { existsSync } from 'node:fs';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, isAbsolute, join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { JobMount } from '../../../engine/containers.js';
import { statPath } from '../../../engine/archive.js';
import { engineMessage } from '../../../engine/errors.js';
import type { JobSpec } from '../../spec.js';
import { alive } from '../lock.js';
import { DL_DIR, InputsNotVisible, packageDir, PLATFORM_DIR, SSH_DIR, type InputTransport } from './transport.js';

function bindMounts(spec: JobSpec): JobMount[] {
  const mounts: JobMount[] = [
    spec.downloads_volume
      ? { type: 'volume', source: spec.downloads_volume, target: DL_DIR }
      : { type: 'bind', source: spec.download_dir, target: DL_DIR },
    { type: 'bind', source: spec.platform_path, target: PLATFORM_DIR },
    { type: 'bind', source: spec.pkg_path, target: packageDir(spec.app) },
  ];
  // Upstream mounts ~/.ssh even when it does not exist, and Docker then
  // refuses to start; here it is mounted only when present, and read-only.
  const ssh = spec.home ? join(spec.home, '.ssh') : '';
  if (ssh && existsSync(ssh)) mounts.push({ type: 'bind', source: ssh, target: SSH_DIR, readOnly: true });
  return mounts;
}

export const bindInputs: InputTransport = {
  name: 'bind',
  why: 'bind mounts',
  sharesHostFiles: true,
  mounts: bindMounts,
};

export function trustedBind(why: string): InputTransport {
  return { ...bindInputs, why };
}

/** Bind mounts, checked with a token before the container starts; `release` removes the token. */
export async function checkedBind(spec: JobSpec, why: string): Promise<{ inputs: InputTransport; release: () => Promise<void> }> {
  const token = randomBytes(16).toString('hex');
  const { onHost, inContainer } = tokenPlace(spec, token);
  await writeFile(onHost, token, { mode: 0o644 });
  const inputs: InputTransport = {
    ...bindInputs,
    why,
    checked: true,
    async beforeStart(container) {
      // A stat through the archive API (HEAD, ~3 ms; a GET of the file takes ~45 ms): the token's name is
      // random and new, so a file of that name and size can only be the one just written here.
      const seen = await statPath(container, inContainer);
      if (!seen || seen.name !== basename(inContainer) || seen.size !== token.length) {
        throw new InputsNotVisible(
          onHost,
          seen === null ? 'a file written there just now is not in the container' : 'the container sees a different file there',
        );
      }
    },
  };
  return { inputs, release: () => rm(onHost, { force: true }) };
}

const TOKEN_PREFIX = '.ndt-visible-';

/** Where the token goes: the build path, as the package's bind mount shows it in the container. Its name carries our pid. */
function tokenPlace(spec: JobSpec, token: string): { onHost: string; inContainer: string } {
  const name = `${TOKEN_PREFIX}${process.pid}-${token.slice(0, 16)}`;
  const rel = relative(spec.pkg_path, spec.build_path);
  const inside = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  return inside
    ? { onHost: join(spec.build_path, name), inContainer: `${packageDir(spec.app)}/${rel.split('\\').join('/')}/${name}` }
    : { onHost: join(spec.pkg_path, name), inContainer: `${packageDir(spec.app)}/${name}` };
}

/**
 * Removes the tokens that killed runners left (a SIGKILL leaves no time to
 * remove one): those naming a pid that is gone, and those of older versions
 * (no pid in the name) written before `before` (the live job's start). Call
 * it holding the package's lock; `spec` may lack pkg_path (clean): the
 * build path alone is looked at then.
 */
export async function removeStaleTokens(
  spec: Pick<JobSpec, 'build_path'> & Partial<Pick<JobSpec, 'pkg_path'>>,
  before: number,
): Promise<void> {
  const dirs = new Set([spec.build_path, ...(spec.pkg_path ? [spec.pkg_path] : [])]);
  for (const dir of dirs) {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith(TOKEN_PREFIX));
    await Promise.all(
      names.map(async (n) => {
        const pid = /^(\d+)-[0-9a-f]{16}$/.exec(n.slice(TOKEN_PREFIX.length))?.[1];
        const stale =
          pid !== undefined ? !alive(Number(pid)) : ((await stat(join(dir, n)).catch(() => null))?.mtimeMs ?? Infinity) < before;
        if (stale) await rm(join(dir, n), { force: true });
      }),
    );
  }
}

/** Whether a container create failed because a bind source does not exist where the engine runs. */
export function missingBindSource(err: unknown): string | null {
  const msg = engineMessage(err);
  const m = /bind source path does not exist: (\S+)/.exec(msg) ?? /statfs (\S+): no such file or directory/.exec(msg);
  return m ? m[1]! : null;
}
