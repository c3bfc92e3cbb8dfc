// The input directories and the output path of a build, checked before it
// starts: an input that does not exist is input_missing naming its option,
// one that is not a directory says so; an output that is a directory where a
// file is written, under a file, or in a directory this user cannot write
// (a read-only mount) is refused naming the output, not a temporary name.
// A missing parent directory of the output is created, as it always was.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { OpError } from '../errors.js';
import { kebab } from './shown.js';

/**
 * Each path the option gives (one or a list, relative ones from the working
 * directory) exists and (unless `fileOk` says a file may do, as a store path
 * in buildLayeredImage's contents may be one) is a directory or a link to
 * one. What cannot be read is left to the readers (input_path).
 */
export async function checkInputDirs(
  option: string,
  given: string | string[] | undefined,
  fileOk: (p: string) => boolean = () => false,
): Promise<void> {
  const paths = (given === undefined ? [] : Array.isArray(given) ? given : [given]).map((p) => resolve(p));
  for (const p of paths) {
    const st = await stat(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR')
        throw new OpError(
          'input_missing',
          `${option} (--${kebab(option)}): ${p} does not exist`,
          `Give ${option} an existing directory (a relative path is taken from ${process.cwd()}).`,
        );
      return undefined;
    });
    if (st && !st.isDirectory() && !fileOk(p))
      throw new OpError(
        'image_options',
        `${option} (--${kebab(option)}): ${p} is not a directory`,
        `Give ${option} a directory: its contents are copied into the image root (put a single file in a directory first).`,
      );
  }
}

/**
 * The output path, before the build: `kind` "file" (a docker-archive, an
 * oci-archive, a root filesystem tar) must not be a directory, "directory"
 * (an OCI layout, a bundle) must not be a file; its nearest existing
 * ancestor must be a directory this user may write in.
 */
export async function checkOutputPath(out: string, kind: 'file' | 'directory', option = 'out'): Promise<void> {
  const path = resolve(out);
  const what = `${option} (--${kebab(option)})`;
  const st = await stat(path).catch(() => undefined);
  if (st && kind === 'file' && st.isDirectory())
    throw new OpError(
      'image_options',
      `${what}: ${path} is a directory; the output is a file written in its place`,
      `Give ${option} a file path (e.g. ${path.replace(/\/+$/, '')}/image.tar), or remove the directory.`,
    );
  if (st && kind === 'directory' && !st.isDirectory())
    throw new OpError(
      'image_options',
      `${what}: ${path} exists and is not a directory; the output is a directory`,
      `Give ${option} a new directory path, or remove the file.`,
    );
  // The nearest ancestor that exists: the build creates the ones missing below it.
  // null: not there; undefined: there but not to be stat'ed (left to the write check below).
  const look = (p: string) =>
    stat(p).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' || err.code === 'ENOTDIR' ? null : undefined));
  let dir = dirname(path);
  let up = await look(dir);
  while (up === null && dirname(dir) !== dir) {
    dir = dirname(dir);
    up = await look(dir);
  }
  if (up && !up.isDirectory())
    throw new OpError(
      'image_options',
      `${what}: cannot write ${path}: ${dir} is a file, not a directory`,
      `Give ${option} a path under a directory (not under the file ${dir}).`,
    );
  try {
    await access(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'a read-only file system' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new OpError(
      'input_path',
      `${what}: cannot write ${path}: ${dir} is not writable (${why})`,
      `Give ${option} a path in a directory you can write to.`,
    );
  }
}
