// shadowSetup: the account files nixpkgs' dockerTools.shadowSetup writes
// (/etc/passwd, shadow, group, gshadow, pam.d/other, login.defs), each only
// where missing, into a root directory; plus helpers that add users and
// groups by editing those files, so no shadow tools are needed in the image.
// What it creates gets fixed modes (0644 files, 0640 shadow and gshadow, 0755
// directories), whatever the umask: they go into image layers as they are.
import { appendFile, chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { OpError } from '../errors.js';
import { recordOwner } from './owners-file.js';

export const SHADOW_FILES: Record<string, string> = {
  'etc/passwd': 'root:x:0:0::/root:/bin/sh\n',
  'etc/shadow': 'root:!x:::::::\n',
  'etc/group': 'root:x:0:\n',
  'etc/gshadow': 'root:x::\n',
  'etc/pam.d/other': [
    'account sufficient pam_unix.so',
    'auth sufficient pam_rootok.so',
    'password requisite pam_unix.so nullok yescrypt',
    'session required pam_unix.so',
    '',
  ].join('\n'),
  'etc/login.defs': '',
};

export interface ShadowSetupOptions {
  /** Directory that will become (part of) the image root, e.g. a copyToRoot directory. */
  root: string;
  users?: UserSpec[];
  groups?: GroupSpec[];
}

export interface GroupSpec {
  name: string;
  gid: number;
  members?: string[];
}

export interface UserSpec {
  name: string;
  uid: number;
  /** Primary group id (default: uid); a group of the user's name is created when missing. */
  gid?: number;
  home?: string;
  shell?: string;
  gecos?: string;
  /** Supplementary group names. */
  groups?: string[];
  /** Create the home directory under root (default true). */
  createHome?: boolean;
}

/** The mode of an account file it creates: shadow and gshadow readable by root and group only. */
function fileMode(path: string): number {
  return ['shadow', 'gshadow'].includes(basename(path)) ? 0o640 : 0o644;
}

/** mkdir -p, the directories it creates set to 0755 (not what the umask leaves of it). */
async function makeDirs(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  for (let d = resolve(dir); ; d = dirname(d)) {
    await chmod(d, 0o755);
    if (d === resolve(first) || d === dirname(d)) return;
  }
}

async function readOr(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
}

/** Write the missing account files, then add the given groups and users. Returns the files written. */
export async function shadowSetup(opts: ShadowSetupOptions): Promise<string[]> {
  const written: string[] = [];
  for (const [rel, content] of Object.entries(SHADOW_FILES)) {
    const p = join(opts.root, rel);
    if ((await readOr(p)) !== undefined) continue;
    await makeDirs(dirname(p));
    await writeFile(p, content, { mode: fileMode(p) });
    await chmod(p, fileMode(p));
    written.push(`/${rel}`);
  }
  for (const g of opts.groups ?? []) await addGroup(opts.root, g);
  for (const u of opts.users ?? []) await addUser(opts.root, u);
  return written;
}

function rows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

function checkName(kind: string, name: string): void {
  if (!/^[a-z_][a-z0-9_-]*\$?$/i.test(name) || name.length > 32)
    throw new OpError(
      'shadow_conflict',
      `invalid ${kind} name "${name}"`,
      `A ${kind} name starts with a letter or _, has letters, digits, _ and - (an optional $ at the end), and at most 32 characters.`,
    );
}

async function append(path: string, line: string): Promise<void> {
  const text = await readOr(path);
  await makeDirs(dirname(path));
  await appendFile(path, (!text || text.endsWith('\n') ? '' : '\n') + line + '\n', { mode: fileMode(path) });
  if (text === undefined) await chmod(path, fileMode(path));
}

/** Add a group to etc/group and etc/gshadow (idempotent when identical). */
export async function addGroup(root: string, g: GroupSpec): Promise<void> {
  checkName('group', g.name);
  const groupFile = join(root, 'etc/group');
  const existing = rows((await readOr(groupFile)) ?? '');
  const same = existing.find((r) => r[0] === g.name);
  if (same) {
    if (Number(same[2]) !== g.gid)
      throw new OpError(
        'shadow_conflict',
        `group ${g.name} exists with gid ${same[2]}, not ${g.gid}`,
        `Use gid ${same[2]} for ${g.name}, or another group name.`,
      );
    return;
  }
  const clash = existing.find((r) => Number(r[2]) === g.gid);
  if (clash)
    throw new OpError(
      'shadow_conflict',
      `gid ${g.gid} is already used by group ${clash[0]}`,
      "Choose a gid that the root's etc/group does not use yet.",
    );
  const members = (g.members ?? []).join(',');
  await append(groupFile, `${g.name}:x:${g.gid}:${members}`);
  await append(join(root, 'etc/gshadow'), `${g.name}:!::${members}`);
}

async function addMember(root: string, group: string, user: string): Promise<void> {
  for (const [rel, col] of [
    ['etc/group', 3],
    ['etc/gshadow', 3],
  ] as const) {
    const p = join(root, rel);
    const text = await readOr(p);
    if (text === undefined) continue;
    let found = false;
    const out = text.split('\n').map((line) => {
      const f = line.split(':');
      if (f[0] !== group) return line;
      found = true;
      const members = (f[col] ?? '').split(',').filter(Boolean);
      if (!members.includes(user)) members.push(user);
      f[col] = members.join(',');
      return f.join(':');
    });
    if (!found && rel === 'etc/group')
      throw new OpError(
        'shadow_conflict',
        `supplementary group ${group} does not exist`,
        `Add the group ${group} (groups: [...]) before the user that joins it.`,
      );
    if (!found) out.splice(out.length - (out.at(-1) === '' ? 1 : 0), 0, `${group}:!::${user}`);
    await writeFile(p, out.join('\n'));
  }
}

/**
 * The user's home, owned by the user as `useradd -m` makes it: chowned when
 * this process may, and recorded for the image builders either way.
 */
async function makeHome(root: string, home: string, uid: number, gid: number): Promise<void> {
  const dir = join(root, home);
  await makeDirs(dir);
  await chown(dir, uid, gid).catch(() => undefined);
  await recordOwner(root, home, { uid, gid });
}

/** Add a user to etc/passwd and etc/shadow, with its primary group and home. */
export async function addUser(root: string, u: UserSpec): Promise<void> {
  checkName('user', u.name);
  const gid = u.gid ?? u.uid;
  const passwd = join(root, 'etc/passwd');
  const existing = rows((await readOr(passwd)) ?? '');
  const home = u.home ?? `/home/${u.name}`;
  const same = existing.find((r) => r[0] === u.name);
  if (same) {
    if (Number(same[2]) !== u.uid)
      throw new OpError(
        'shadow_conflict',
        `user ${u.name} exists with uid ${same[2]}, not ${u.uid}`,
        `Use uid ${same[2]} for ${u.name}, or another user name.`,
      );
  } else {
    const clash = existing.find((r) => Number(r[2]) === u.uid);
    if (clash)
      throw new OpError(
        'shadow_conflict',
        `uid ${u.uid} is already used by user ${clash[0]}`,
        "Choose a uid that the root's etc/passwd does not use yet.",
      );
    const groups = rows((await readOr(join(root, 'etc/group'))) ?? '');
    if (!groups.some((r) => Number(r[2]) === gid)) await addGroup(root, { name: u.name, gid });
    await append(passwd, `${u.name}:x:${u.uid}:${gid}:${u.gecos ?? ''}:${home}:${u.shell ?? '/bin/sh'}`);
    await append(join(root, 'etc/shadow'), `${u.name}:!:1::::::`);
  }
  for (const g of u.groups ?? []) await addMember(root, g, u.name);
  if (u.createHome !== false) await makeHome(root, home, u.uid, gid);
}

/** The same files as a shell snippet, for use at the start of runAsRoot (as in nixpkgs). */
export function shadowSetupScript(): string {
  return (
    Object.entries(SHADOW_FILES)
      .map(
        ([rel, content]) => `[ -e /${rel} ] || { mkdir -p /${dirname(rel)}; printf '%s' '${content.replace(/'/g, "'\\''")}' > /${rel}; }`,
      )
      .join('\n') + '\n'
  );
}
