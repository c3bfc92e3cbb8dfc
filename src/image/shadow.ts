// shadowSetup: the account files nixpkgs' dockerTools.shadowSetup writes
// (/etc/passwd, shadow, group, gshadow, pam.d/other, login.defs), each only
// where missing, into a root directory; plus helpers that add users and
// groups by editing those files, so no shadow tools are needed in the image.
// What it creates gets fixed modes (0644 files, 0640 shadow and gshadow, 0755
// directories), whatever the umask: they go into image layers as they are.
import { chmod, lchown, lstat, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { OpError } from '../errors.js';
import { OWNERS_FILE, recordOwner } from './owners-file.js';

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

const ACCOUNT_FILES = ['etc/passwd', 'etc/shadow', 'etc/group', 'etc/gshadow'] as const;
type AccountFile = (typeof ACCOUNT_FILES)[number];

function invalid(message: string, hint: string): OpError {
  return new OpError('shadow_conflict', message, hint);
}

function outOfRoot(root: string, rel: string, problem: string): OpError {
  return new OpError(
    'input_path',
    `${join(root, rel)} ${problem}: shadowSetup writes only inside ${root} and does not follow symlinks out of it`,
    `Make ${rel} under ${root} a plain directory (or remove it), or choose another root.`,
  );
}

/**
 * Check that every existing component of `rel` under `root` (a path relative to it, without `..`) is a
 * directory, not a symlink; `last` says what the final component may be. Returns whether it exists.
 */
async function checkUnder(root: string, rel: string, last: 'dir' | 'file'): Promise<boolean> {
  const parts = rel.split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const sub = parts.slice(0, i + 1).join('/');
    const st = await lstat(join(root, sub)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!st) return false;
    if (st.isSymbolicLink()) throw outOfRoot(root, sub, 'is a symlink');
    const final = i === parts.length - 1;
    if (final && last === 'file' ? !st.isFile() : !st.isDirectory())
      throw outOfRoot(root, sub, final && last === 'file' ? 'is not a regular file' : 'is not a directory');
  }
  return true;
}

/** The root itself (the caller's choice of directory, followed wherever it leads), made 0755 where missing. */
async function makeRoot(root: string): Promise<void> {
  const first = await mkdir(root, { recursive: true });
  if (first === undefined) return;
  for (let d = resolve(root); ; d = dirname(d)) {
    await chmod(d, 0o755);
    if (d === resolve(first) || d === dirname(d)) return;
  }
}

/** mkdir -p of `rel` under root, each component checked (no symlinks), the directories it creates 0755. */
async function makeDirs(root: string, rel: string): Promise<void> {
  await checkUnder(root, rel, 'dir');
  const parts = rel.split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const d = join(root, ...parts.slice(0, i + 1));
    const made = await mkdir(d).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'EEXIST') return false;
        throw err;
      },
    );
    if (made) await chmod(d, 0o755);
    // Made by someone else meanwhile: check it again rather than follow it.
    else if (!(await lstat(d)).isDirectory()) throw outOfRoot(root, parts.slice(0, i + 1).join('/'), 'is not a directory');
  }
}

/** Replace (or create) root/rel with `content`: a new file renamed over it, so a symlink there is replaced, never followed. */
async function writeAtomically(root: string, rel: string, content: string, mode: number): Promise<void> {
  const p = join(root, rel);
  const tmp = join(dirname(p), `.${basename(p)}.ndt-${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(tmp, content, { mode, flag: 'wx' });
    await chmod(tmp, mode);
    await rename(tmp, p);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** A file's text, undefined when missing; a symlink or anything but a regular file (at it or above it) is refused. */
async function readUnder(root: string, rel: string): Promise<{ text: string; mode: number } | undefined> {
  if (!(await checkUnder(root, rel, 'file'))) return undefined;
  const p = join(root, rel);
  return { text: await readFile(p, 'utf8'), mode: (await lstat(p)).mode & 0o7777 };
}

function rows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

function checkName(kind: string, name: unknown): void {
  if (typeof name !== 'string' || !/^[a-z_][a-z0-9_-]*\$?$/i.test(name) || name.length > 32)
    throw invalid(
      `invalid ${kind} name ${JSON.stringify(name)}`,
      `A ${kind} name starts with a letter or _, has letters, digits, _ and - (an optional $ at the end), and at most 32 characters.`,
    );
}

function checkId(kind: string, name: string, id: unknown): void {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xfffffffe)
    throw invalid(`${kind} ${name}: ${JSON.stringify(id)} is not a whole number from 0 to 4294967294`, `Give ${name} a numeric ${kind}.`);
}

/** A passwd field (gecos, shell): no ':' and no line break, which would make other fields or lines. */
function checkField(user: string, field: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'string' || /[:\n\r\0]/.test(value)))
    throw invalid(
      `user ${user}: ${field} ${JSON.stringify(value)} has a ':', a line break or a NUL`,
      `Remove those characters from ${field}.`,
    );
}

/**
 * The home as it goes into etc/passwd and under root: absolute, without any `..` component, normalised
 * (`//srv/./app/` is `/srv/app`).
 */
function normaliseHome(user: string, home: unknown): string {
  const hint = 'A home is an absolute path in the image without .. (e.g. /home/app, /var/lib/app).';
  if (typeof home !== 'string' || !home.startsWith('/'))
    throw invalid(`user ${user}: home ${JSON.stringify(home)} is not an absolute path`, hint);
  if (home.split('/').includes('..')) throw invalid(`user ${user}: home ${JSON.stringify(home)} has a .. component`, hint);
  if (/[:\n\r\0]/.test(home)) throw invalid(`user ${user}: home ${JSON.stringify(home)} has a ':', a line break or a NUL`, hint);
  return posix.normalize(home).replace(/(.)\/+$/, '$1');
}

/**
 * The account files of a root, edited in memory: every group and user is checked and applied here, and
 * nothing reaches the disk until all of them passed (`commit`).
 */
class Accounts {
  readonly texts = new Map<AccountFile, string>();
  readonly modes = new Map<AccountFile, number>();
  readonly changed = new Set<AccountFile>();
  readonly homes: { home: string; uid: number; gid: number }[] = [];

  private constructor(readonly root: string) {}

  /** Read etc/passwd, shadow, group, gshadow under root; a missing one is `missing(file)` (to be written). */
  static async load(root: string, missing: (rel: AccountFile) => string): Promise<Accounts> {
    const a = new Accounts(root);
    for (const rel of ACCOUNT_FILES) {
      const got = await readUnder(root, rel);
      if (got) {
        a.texts.set(rel, got.text);
        a.modes.set(rel, got.mode);
      } else {
        a.texts.set(rel, missing(rel));
        a.changed.add(rel);
      }
    }
    return a;
  }

  private rows(rel: AccountFile): string[][] {
    return rows(this.texts.get(rel)!);
  }

  private append(rel: AccountFile, line: string): void {
    const text = this.texts.get(rel)!;
    this.texts.set(rel, text + (!text || text.endsWith('\n') ? '' : '\n') + line + '\n');
    this.changed.add(rel);
  }

  addGroup(g: GroupSpec): void {
    checkName('group', g.name);
    checkId('gid', g.name, g.gid);
    for (const m of g.members ?? []) checkName('user', m);
    const existing = this.rows('etc/group');
    const same = existing.find((r) => r[0] === g.name);
    if (same) {
      if (Number(same[2]) !== g.gid)
        throw invalid(
          `group ${g.name} exists with gid ${same[2]}, not ${g.gid}`,
          `Use gid ${same[2]} for ${g.name}, or another group name.`,
        );
      return;
    }
    const clash = existing.find((r) => Number(r[2]) === g.gid);
    if (clash)
      throw invalid(`gid ${g.gid} is already used by group ${clash[0]}`, "Choose a gid that the root's etc/group does not use yet.");
    const members = (g.members ?? []).join(',');
    this.append('etc/group', `${g.name}:x:${g.gid}:${members}`);
    this.append('etc/gshadow', `${g.name}:!::${members}`);
  }

  private addMember(group: string, user: string): void {
    for (const rel of ['etc/group', 'etc/gshadow'] as const) {
      const text = this.texts.get(rel)!;
      let found = false;
      const out = text.split('\n').map((line) => {
        const f = line.split(':');
        if (f[0] !== group) return line;
        found = true;
        const members = (f[3] ?? '').split(',').filter(Boolean);
        if (!members.includes(user)) members.push(user);
        f[3] = members.join(',');
        return f.join(':');
      });
      if (!found && rel === 'etc/group')
        throw invalid(
          `supplementary group ${group} does not exist`,
          `Add the group ${group} (groups: [...]) before the user that joins it.`,
        );
      if (!found) out.splice(out.length - (out.at(-1) === '' ? 1 : 0), 0, `${group}:!::${user}`);
      const next = out.join('\n');
      if (next !== text) {
        this.texts.set(rel, next);
        this.changed.add(rel);
      }
    }
  }

  addUser(u: UserSpec): void {
    checkName('user', u.name);
    checkId('uid', u.name, u.uid);
    if (u.gid !== undefined) checkId('gid', u.name, u.gid);
    checkField(u.name, 'gecos', u.gecos);
    checkField(u.name, 'shell', u.shell);
    for (const g of u.groups ?? []) checkName('group', g);
    const gid = u.gid ?? u.uid;
    const home = normaliseHome(u.name, u.home ?? `/home/${u.name}`);
    const existing = this.rows('etc/passwd');
    const same = existing.find((r) => r[0] === u.name);
    if (same) {
      if (Number(same[2]) !== u.uid)
        throw invalid(`user ${u.name} exists with uid ${same[2]}, not ${u.uid}`, `Use uid ${same[2]} for ${u.name}, or another user name.`);
    } else {
      const clash = existing.find((r) => Number(r[2]) === u.uid);
      if (clash)
        throw invalid(`uid ${u.uid} is already used by user ${clash[0]}`, "Choose a uid that the root's etc/passwd does not use yet.");
      if (!this.rows('etc/group').some((r) => Number(r[2]) === gid)) this.addGroup({ name: u.name, gid });
      this.append('etc/passwd', `${u.name}:x:${u.uid}:${gid}:${u.gecos ?? ''}:${home}:${u.shell ?? '/bin/sh'}`);
      this.append('etc/shadow', `${u.name}:!:1::::::`);
    }
    for (const g of u.groups ?? []) this.addMember(g, u.name);
    // The image root itself (home "/") is nobody's to own.
    if (u.createHome !== false && home !== '/') this.homes.push({ home, uid: u.uid, gid });
  }

  /** Check the homes' paths (no symlink, nothing but directories), then write the changed files and make the homes. */
  async commit(): Promise<void> {
    for (const h of this.homes) await checkUnder(this.root, h.home, 'dir');
    if (this.homes.length > 0) await checkUnder(this.root, OWNERS_FILE, 'file');
    await makeRoot(this.root);
    if (this.changed.size > 0) await makeDirs(this.root, 'etc');
    for (const rel of ACCOUNT_FILES)
      if (this.changed.has(rel)) await writeAtomically(this.root, rel, this.texts.get(rel)!, this.modes.get(rel) ?? fileMode(rel));
    for (const h of this.homes) await makeHome(this.root, h.home, h.uid, h.gid);
  }
}

/** Write the missing account files, then add the given groups and users. Returns the files written. */
export async function shadowSetup(opts: ShadowSetupOptions): Promise<string[]> {
  const { root } = opts;
  const accounts = await Accounts.load(root, (rel) => SHADOW_FILES[rel]!);
  const others: string[] = [];
  for (const rel of Object.keys(SHADOW_FILES))
    if (!(ACCOUNT_FILES as readonly string[]).includes(rel) && !(await checkUnder(root, rel, 'file'))) others.push(rel);
  for (const g of opts.groups ?? []) accounts.addGroup(g);
  for (const u of opts.users ?? []) accounts.addUser(u);
  // Which of the account files were missing, before the users and groups changed the others.
  const missing = new Set(ACCOUNT_FILES.filter((rel) => !accounts.modes.has(rel)));
  await accounts.commit();
  await makeRoot(root);
  for (const rel of others) {
    await makeDirs(root, dirname(rel));
    await writeAtomically(root, rel, SHADOW_FILES[rel]!, fileMode(rel));
  }
  return Object.keys(SHADOW_FILES)
    .filter((rel) => missing.has(rel as AccountFile) || others.includes(rel))
    .map((rel) => `/${rel}`);
}

/**
 * The user's home, owned by the user as `useradd -m` makes it: chowned when
 * this process may, and recorded for the image builders either way. `home`
 * is normalised and checked (no `..`, no symlink on the way).
 */
async function makeHome(root: string, home: string, uid: number, gid: number): Promise<void> {
  await makeDirs(root, home);
  // lchown: were the directory swapped for a symlink meanwhile, the link is changed, not where it leads.
  await lchown(join(root, home), uid, gid).catch(() => undefined);
  await recordOwner(root, home, { uid, gid });
}

/** Add a group to etc/group and etc/gshadow (idempotent when identical). */
export async function addGroup(root: string, g: GroupSpec): Promise<void> {
  const accounts = await Accounts.load(root, () => '');
  accounts.addGroup(g);
  await accounts.commit();
}

/** Add a user to etc/passwd and etc/shadow, with its primary group and home. */
export async function addUser(root: string, u: UserSpec): Promise<void> {
  const accounts = await Accounts.load(root, () => '');
  accounts.addUser(u);
  await accounts.commit();
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
