// Host inputs that the user running this cannot read (EACCES, EPERM: a
// `chmod 000` file, a directory without read or search permission). Said as
// an `input_path` error that names the path and what to do, instead of a bare
// errno: rerunning never helps, only new permissions or leaving the path out.
// The image toolkit and the copy build's sync both read host trees.
import { OpError } from '../errors.js';

/** What could not be done to the path: read a file, list a directory, or look up the names in a directory. */
export type Denied = 'read' | 'list' | 'search';

const CODES = new Set(['EACCES', 'EPERM']);

/** The toolkit's hint; the copy build gives its own (inputs_exclude). */
export const IMAGE_HINT =
  'Make it readable by the user running this (chmod, chown), or leave it out of the directories given to the image; rerunning as it is does not help.';

/** Whether err is a permission refused to this process (not a missing file or an I/O error). */
export function isDenied(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && CODES.has((err as NodeJS.ErrnoException).code ?? '');
}

/** Who is refused, for the message: "this user (uid 1000)". */
export function whoIsDenied(): string {
  const uid = process.getuid?.();
  return uid === undefined ? 'this user' : `this user (uid ${uid})`;
}

/** What could not be done to `path`, as a sentence. */
export function deniedText(path: string, denied: Denied): string {
  const who = whoIsDenied();
  if (denied === 'list') return `${who} cannot list the directory ${path} (permission denied)`;
  if (denied === 'search') return `${who} cannot look up the names in the directory ${path} (no search (x) permission)`;
  return `${who} cannot read ${path} (permission denied)`;
}

/**
 * err as an `input_path` error naming `path` when it is a refused
 * permission, else err itself: for a catch around reading an input.
 */
export function deniedInput(err: unknown, path: string, denied: Denied = 'read', hint: string = IMAGE_HINT): unknown {
  return isDenied(err) ? new OpError('input_path', deniedText(path, denied), hint) : err;
}

/** A path this user was refused, relative to the tree it is in ("." for the tree itself). */
export interface DeniedPath {
  path: string;
  denied: Denied;
}

/** Paths named in a message; the rest are counted. */
const SHOWN = 10;

const WHY: Record<Denied, string> = { read: '', list: ' (cannot be listed)', search: ' (no search (x) permission)' };

/** A path as a message shows it: relative to the tree, a directory with a trailing "/" ("./" for the tree itself). */
export function shownPath({ path, denied }: DeniedPath): string {
  if (path === '.') return './';
  return denied === 'read' ? path : `${path}/`;
}

/**
 * Refused paths as one message names them: `what` ("a path", "3 paths"),
 * `them` ("it", "them") and `list`, the first ten with why, then how many more.
 */
export function namedPaths(denied: DeniedPath[]): { what: string; them: string; list: string } {
  const more = denied.length > SHOWN ? `, and ${denied.length - SHOWN} more` : '';
  return {
    what: denied.length === 1 ? 'a path' : `${denied.length} paths`,
    them: denied.length === 1 ? 'it' : 'them',
    list: `${denied
      .slice(0, SHOWN)
      .map((d) => `${shownPath(d)}${WHY[d.denied]}`)
      .join(', ')}${more}`,
  };
}

/** fn(), with a refused permission said as deniedInput says it. */
export function denied<T>(fn: () => T, path: string, what: Denied, hint: string = IMAGE_HINT): T {
  try {
    return fn();
  } catch (err) {
    throw deniedInput(err, path, what, hint);
  }
}
