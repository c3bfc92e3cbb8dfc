// Ownership a directory's files should have in the image, which an
// unprivileged build cannot give them on the host: shadowSetup records each
// user's home (owned by the user, as `useradd -m` makes it) in
// `.ndt-owners.json` at the top of the directory it writes into. When that
// directory becomes (part of) an image root, the builders give the recorded
// paths those owners and leave the file itself out of the image.
import { readFileSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { OpError } from '../errors.js';
import { deniedInput } from './unreadable.js';

export const OWNERS_FILE = '.ndt-owners.json';

export interface RecordedOwner {
  uid: number;
  gid: number;
}

const HINT = `${OWNERS_FILE} is written by shadowSetup: remove it and run shadowSetup again.`;

function parse(text: string, where: string): Record<string, RecordedOwner> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes the file.
    throw new OpError('input_path', `${where} is not valid JSON (${text.length} characters)`, HINT);
  }
  const ok =
    value &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.values(value).every((o) => Number.isInteger((o as RecordedOwner).uid) && Number.isInteger((o as RecordedOwner).gid));
  if (!ok) throw new OpError('input_path', `${where}: expected {"path": {"uid": N, "gid": N}, ...}`, HINT);
  return value as Record<string, RecordedOwner>;
}

/** The owners recorded at the top of `root` (archive-relative names), empty when there is no record. */
export function readOwners(root: string): Map<string, RecordedOwner> {
  const file = join(root, OWNERS_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return new Map();
    throw deniedInput(err, file);
  }
  return new Map(Object.entries(parse(text, file)));
}

/** Record that `name` (relative to root) belongs to uid:gid in the image. */
export async function recordOwner(root: string, name: string, owner: RecordedOwner): Promise<void> {
  const file = join(root, OWNERS_FILE);
  const text = await readFile(file, 'utf8').catch(() => '{}');
  const all = parse(text, file);
  all[name.replace(/^\/+|\/+$/g, '')] = { uid: owner.uid, gid: owner.gid };
  const sorted = Object.fromEntries(Object.entries(all).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  // A new file renamed over it: a symlink there is replaced, never followed out of root.
  const tmp = `${file}.ndt-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(tmp, JSON.stringify(sorted, null, 2) + '\n', { flag: 'wx' });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
