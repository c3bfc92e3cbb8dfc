// The tar stream of a build context: the directory's files minus what
// .dockerignore excludes (the Dockerfile and .dockerignore always go), in
// sorted order. What this user cannot read of what would be sent (a file,
// a directory it cannot list or search) is one input_path error naming it
// all, before anything is sent.
import { accessSync, constants } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { OpError } from '../errors.js';
import { isDenied, namedPaths, shownPath, whoIsDenied, type DeniedPath } from '../image/unreadable.js';
import { isIgnored, loadDockerignore } from './dockerignore.js';

export async function contextFiles(contextDir: string, dockerfile: string): Promise<string[]> {
  const rules = await loadDockerignore(contextDir);
  const always = new Set([dockerfile, '.dockerignore']);
  const out: string[] = [];
  const denied: DeniedPath[] = [];
  const walk = async (rel: string, ignored: boolean): Promise<void> => {
    let entries: string[];
    try {
      entries = (await readdir(join(contextDir, rel))).sort();
    } catch (err) {
      if (!isDenied(err)) throw err;
      if (!ignored) denied.push({ path: rel || '.', denied: 'list' });
      return;
    }
    for (const name of entries) {
      const path = rel ? `${rel}/${name}` : name;
      const skip = isIgnored(rules, path) && !always.has(path);
      let st;
      try {
        st = await lstat(join(contextDir, path));
      } catch (err) {
        if (!isDenied(err)) throw err;
        if (!ignored) denied.push({ path: rel || '.', denied: 'search' });
        return;
      }
      if (st.isDirectory()) {
        // Descend even into an ignored directory: a later ! rule may re-include a child.
        const before = out.length;
        await walk(path, skip);
        if (!skip && out.length === before) out.push(path);
      } else if (!skip) {
        if (st.isFile() && !readable(join(contextDir, path))) denied.push({ path, denied: 'read' });
        else out.push(path);
      }
    }
  };
  await walk('', false);
  if (denied.length > 0) throw unreadableContext(contextDir, denied);
  return out;
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch (err) {
    if (isDenied(err)) return false;
    throw err;
  }
}

function unreadableContext(contextDir: string, denied: DeniedPath[]): OpError {
  const { what, them, list } = namedPaths(denied);
  const names = denied.slice(0, 3).map(shownPath);
  return new OpError(
    'input_path',
    `${whoIsDenied()} cannot read ${what} in the build context ${contextDir}: ${list}`,
    `Make ${them} readable (chmod -R u+rX, chown), or list ${them} in ${join(contextDir, '.dockerignore')} (e.g. ${names.join(', ')}); rerunning as it is does not help.`,
  );
}

export async function contextTar(contextDir: string, dockerfile: string): Promise<Readable> {
  const files = await contextFiles(contextDir, dockerfile);
  // node-tar is loaded here, for image builds only (not at every sidecar start).
  const { create: tarCreate } = await import('tar');
  return tarCreate({ cwd: contextDir, portable: true, noDirRecurse: true, follow: false }, files) as unknown as Readable;
}
