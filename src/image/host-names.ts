// Names read from host trees for the image toolkit. A name or a symlink's
// target that is not valid UTF-8 (a Latin-1 "café" unpacked from an old
// archive) is an input_path error naming its bytes: Node decodes such bytes
// to U+FFFD, so the file would be looked up under a name it does not have
// (a bare ENOENT) and a symlink would point elsewhere in the image. A name
// that is valid UTF-8 and holds U+FFFD itself is read as it is.
import { isUtf8 } from 'node:buffer';
import { readdirSync, readlinkSync } from 'node:fs';
import { OpError } from '../errors.js';

const HINT =
  'Rename it to a UTF-8 name (convmv -f latin1 -t utf8 renames Latin-1 names), or leave it out of the directories given to the image.';

/** The bytes as they read: printable ASCII as it is, every other byte as \xNN. */
export function shownBytes(raw: Buffer): string {
  let s = '';
  for (const b of raw)
    s += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return s;
}

/**
 * Which of dir's names (as readdirSync gave them) are not UTF-8: each as Node
 * reads it (with U+FFFD) to its bytes shown. Empty, without a second
 * listing, when no name holds U+FFFD.
 */
export function notUtf8Names(dir: string, names: readonly string[]): Map<string, string> {
  const bad = new Map<string, string>();
  if (!names.some((n) => n.includes('\uFFFD'))) return bad;
  for (const raw of readdirSync(dir, { encoding: 'buffer' })) if (!isUtf8(raw)) bad.set(raw.toString(), shownBytes(raw));
  return bad;
}

/** readdirSync(dir): the names, or an input_path error for the first one that is not UTF-8. */
export function listNames(dir: string): string[] {
  const names = readdirSync(dir);
  const [shown] = notUtf8Names(dir, names).values();
  if (shown !== undefined) throw new OpError('input_path', `The name "${shown}" in ${dir} is not valid UTF-8`, HINT);
  return names;
}

/** readlinkSync(path): the target, or an input_path error when it is not UTF-8. */
export function linkTarget(path: string): string {
  const target = readlinkSync(path);
  const bad = badTarget(path, target);
  if (bad !== undefined) throw new OpError('input_path', `The target "${bad}" of the symlink ${path} is not valid UTF-8`, HINT);
  return target;
}

/** The bytes of the symlink's target shown, when they are not UTF-8; else undefined. */
export function notUtf8Target(path: string): string | undefined {
  return badTarget(path, readlinkSync(path));
}

function badTarget(path: string, target: string): string | undefined {
  if (!target.includes('\uFFFD')) return undefined;
  const raw = readlinkSync(path, { encoding: 'buffer' });
  return isUtf8(raw) ? undefined : shownBytes(raw);
}
