// The tar stream of a build context: the directory's files minus what
// .dockerignore excludes (the Dockerfile and .dockerignore always go), in
// sorted order.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { isIgnored, loadDockerignore } from './dockerignore.js';

export async function contextFiles(contextDir: string, dockerfile: string): Promise<string[]> {
  const rules = await loadDockerignore(contextDir);
  const always = new Set([dockerfile, '.dockerignore']);
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = (await readdir(join(contextDir, rel))).sort();
    for (const name of entries) {
      const path = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(contextDir, path));
      const ignored = isIgnored(rules, path) && !always.has(path);
      if (st.isDirectory()) {
        // Descend even into an ignored directory: a later ! rule may re-include a child.
        const before = out.length;
        await walk(path);
        if (!ignored && out.length === before) out.push(path);
      } else if (!ignored) {
        out.push(path);
      }
    }
  };
  await walk('');
  return out;
}

export async function contextTar(contextDir: string, dockerfile: string): Promise<Readable> {
  const files = await contextFiles(contextDir, dockerfile);
  // node-tar is loaded here, for image builds only (not at every sidecar start).
  const { create: tarCreate } = await import('tar');
  return tarCreate({ cwd: contextDir, portable: true, noDirRecurse: true, follow: false }, files) as unknown as Readable;
}
