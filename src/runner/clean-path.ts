// What `clean` may delete: only the package's own artifact cache. The
// cache_path of a clean spec is resolved (`..` and symlinked parents) and
// refused when it is `/`, the home directory, the artifacts dir or a parent
// of one of them, or anything that is not the package's cache: a directory
// named as the package's artifact (the name its build_path ends in, which
// starts with "<app>-"), or a "<app>-..." directory right in the artifacts
// dir (Nerves' cache of another version of the package).
import { homedir } from 'node:os';
import { realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { OpError } from '../errors.js';

/** Nerves' artifacts dir: $NERVES_ARTIFACTS_DIR, else $XDG_DATA_HOME/nerves/artifacts, else ~/.nerves/artifacts. */
export function artifactsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.NERVES_ARTIFACTS_DIR) return resolve(env.NERVES_ARTIFACTS_DIR);
  if (env.XDG_DATA_HOME) return resolve(env.XDG_DATA_HOME, 'nerves', 'artifacts');
  return resolve(homedir(), '.nerves', 'artifacts');
}

/** The path with `..` resolved and its parent's symlinks followed (the last component is not: rm removes a link, not its target). */
async function resolvedPath(path: string): Promise<string> {
  const p = resolve(path);
  const parent = await realpath(dirname(p)).catch(() => dirname(p));
  return join(parent, basename(p));
}

const inside = (p: string, dir: string) => p.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/** Returns the resolved cache path `clean` may remove, or throws clean_refused saying why. */
export async function checkCachePath(spec: { app: string; build_path: string; cache_path: string }): Promise<string> {
  const p = await resolvedPath(spec.cache_path);
  const artifacts = await realpath(artifactsDir()).catch(() => artifactsDir());
  const pkgName = basename(resolve(spec.build_path));
  const hint = `clean removes only the package's own artifact cache (${join(artifacts, `${spec.app}-...`)} or a directory named ${pkgName}): print the spec again with \`mix nerves_docker_ts.spec\`, or remove the directory yourself.`;
  const refuse = (why: string): never => {
    throw new OpError('clean_refused', `clean refuses to delete ${p} (cache_path ${JSON.stringify(spec.cache_path)}): ${why}`, hint);
  };
  const homes = [...new Set([homedir(), process.env.HOME].filter((h): h is string => !!h).map((h) => resolve(h)))];
  for (const [what, dir] of [
    ['the root directory', '/'],
    ...homes.map((h) => ['the home directory', h]),
    ['the artifacts dir', artifacts],
  ] as const) {
    if (p === dir) refuse(`it is ${what}`);
    if (inside(dir, p)) refuse(`it holds ${what} (${dir})`);
  }
  const name = basename(p);
  const ownName = pkgName.startsWith(`${spec.app}-`) && name === pkgName;
  const inArtifacts = dirname(p) === artifacts && name.startsWith(`${spec.app}-`);
  if (!ownName && !inArtifacts)
    refuse(`it is not ${spec.app}'s artifact cache (a directory named ${pkgName}, or ${spec.app}-... in ${artifacts})`);
  return p;
}
