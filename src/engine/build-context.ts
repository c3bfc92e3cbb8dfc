// The tar stream of a build context: the directory's files minus what
// .dockerignore excludes (the Dockerfile and .dockerignore always go), in
// sorted order. What this user cannot read of what would be sent (a file,
// a directory it cannot list or search) is one input_path error naming it
// all, before anything is sent; so is a name or symlink target that is not
// UTF-8 (Node reads it with U+FFFD, so it could be neither found nor sent
// as it is), unless .dockerignore leaves it out.
import { accessSync, constants } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { OpError } from '../errors.js';
import { notUtf8Names, notUtf8Target } from '../image/host-names.js';
import { isDenied, namedPaths, shownPath, whoIsDenied, type DeniedPath } from '../image/unreadable.js';
import { isIgnored, loadDockerignore } from './dockerignore.js';

export async function contextFiles(contextDir: string, dockerfile: string): Promise<string[]> {
  const rules = await loadDockerignore(contextDir);
  const always = new Set([dockerfile, '.dockerignore']);
  const out: string[] = [];
  const denied: DeniedPath[] = [];
  const notUtf8: { path: string; shown: string }[] = [];
  const walk = async (rel: string, ignored: boolean): Promise<void> => {
    let entries: string[];
    try {
      entries = (await readdir(join(contextDir, rel))).sort();
    } catch (err) {
      if (!isDenied(err)) throw err;
      if (!ignored) denied.push({ path: rel || '.', denied: 'list' });
      return;
    }
    const badNames = notUtf8Names(join(contextDir, rel), entries);
    for (const name of entries) {
      const path = rel ? `${rel}/${name}` : name;
      const skip = isIgnored(rules, path) && !always.has(path);
      const bad = badNames.get(name);
      if (bad !== undefined) {
        // Left out by .dockerignore: not looked at (it cannot be looked up by this name), nor descended into.
        if (!skip) notUtf8.push({ path, shown: rel ? `${rel}/${bad}` : bad });
        continue;
      }
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
        else {
          const target = st.isSymbolicLink() ? notUtf8Target(join(contextDir, path)) : undefined;
          if (target !== undefined) notUtf8.push({ path, shown: `${path} -> ${target}` });
          else out.push(path);
        }
      }
    }
  };
  await walk('', false);
  if (notUtf8.length > 0) throw notUtf8Context(contextDir, notUtf8);
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

function notUtf8Context(contextDir: string, bad: { path: string; shown: string }[]): OpError {
  const listed = bad.slice(0, 5).map((b) => `"${b.shown}"`);
  if (bad.length > 5) listed.push(`and ${bad.length - 5} more`);
  const pattern = bad[0]!.path.replace(/\uFFFD+/g, '*');
  return new OpError(
    'input_path',
    `The build context ${contextDir} holds ${bad.length === 1 ? 'a name' : `${bad.length} names`} that ${bad.length === 1 ? 'is' : 'are'} not valid UTF-8: ${listed.join(', ')}`,
    `Rename ${bad.length === 1 ? 'it' : 'them'} to UTF-8 (convmv -f latin1 -t utf8 renames Latin-1 names), or list ${bad.length === 1 ? 'it' : 'them'} in ${join(contextDir, '.dockerignore')} with * in place of the bytes shown as \\xNN (e.g. ${pattern}).`,
  );
}

export async function contextTar(contextDir: string, dockerfile: string): Promise<Readable> {
  const files = await contextFiles(contextDir, dockerfile);
  // node-tar is loaded here, for image builds only (not at every sidecar start).
  const { create: tarCreate } = await import('tar');
  return tarCreate({ cwd: contextDir, portable: true, noDirRecurse: true, follow: false }, files) as unknown as Readable;
}
