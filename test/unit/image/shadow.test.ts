import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lstat, mkdtemp, readFile, readdir, rm, symlink, writeFile, mkdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { shadowSetup, addUser, shadowSetupScript, SHADOW_FILES } from '../../../src/image/shadow.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-shadow-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('shadowSetup', () => {
  it('writes missing files only, adds users and groups', async () => {
    const root = join(dir, 'r1');
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc', 'group'), 'root:x:0:\nwheel:x:10:\n');
    const written = await shadowSetup({
      root,
      groups: [{ name: 'docker', gid: 998 }],
      users: [{ name: 'app', uid: 1000, groups: ['wheel', 'docker'] }],
    });
    expect(written).toEqual(['/etc/passwd', '/etc/shadow', '/etc/gshadow', '/etc/pam.d/other', '/etc/login.defs']);
    expect(await readFile(join(root, 'etc/passwd'), 'utf8')).toBe('root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
    expect(await readFile(join(root, 'etc/group'), 'utf8')).toBe('root:x:0:\nwheel:x:10:app\ndocker:x:998:app\napp:x:1000:\n');
    expect(await readFile(join(root, 'etc/shadow'), 'utf8')).toContain('app:!:1::::::');
    expect((await stat(join(root, 'home/app'))).isDirectory()).toBe(true);
    // Owned by the user in the image (recorded: an unprivileged build cannot chown on the host).
    expect(JSON.parse(await readFile(join(root, '.ndt-owners.json'), 'utf8'))).toEqual({ 'home/app': { uid: 1000, gid: 1000 } });
    // idempotent for the same user, refuses conflicts
    await addUser(root, { name: 'app', uid: 1000 });
    await expect(addUser(root, { name: 'app', uid: 1001 })).rejects.toThrow(/exists with uid 1000/);
    await expect(addUser(root, { name: 'other', uid: 1000 })).rejects.toThrow(/already used by user app/);
  });

  it('offers the same files as a shell snippet', async () => {
    const root = join(dir, 'r2');
    await mkdir(root);
    const script = shadowSetupScript()
      .replaceAll(' /etc', ` ${root}/etc`)
      .replaceAll('-e /etc', `-e ${root}/etc`)
      .replaceAll('-p /etc', `-p ${root}/etc`)
      .replaceAll('> /etc', `> ${root}/etc`);
    execFileSync('/bin/sh', ['-c', script]);
    for (const [rel, content] of Object.entries(SHADOW_FILES)) expect(await readFile(join(root, rel), 'utf8')).toBe(content);
  });
});

const exists = (p: string) =>
  lstat(p).then(
    () => true,
    () => false,
  );

describe('shadowSetup stays inside root', () => {
  it('refuses a home with .. or without a leading /, creating nothing outside root (or inside)', async () => {
    const base = join(dir, 'esc');
    const root = join(base, 'a', 'b', 'root');
    await mkdir(root, { recursive: true });
    for (const home of ['../../escaped', '/../../../outside', 'relative/home', '/home/../../x', '/home/a\nroot2:x:0:0::/:/bin/sh']) {
      await expect(shadowSetup({ root, users: [{ name: 'h', uid: 7, home }] }), home).rejects.toMatchObject({ code: 'shadow_conflict' });
    }
    expect(await exists(join(base, 'a', 'escaped'))).toBe(false);
    expect(await exists(join(base, 'outside'))).toBe(false);
    expect(await readdir(root)).toEqual([]);
  });

  it('normalises a home given with // or . and records it so', async () => {
    const root = join(dir, 'norm');
    await mkdir(root);
    await shadowSetup({ root, users: [{ name: 'n', uid: 9, home: '//srv/./n/' }] });
    expect(await readFile(join(root, 'etc/passwd'), 'utf8')).toContain('n:x:9:9::/srv/n:/bin/sh\n');
    expect(JSON.parse(await readFile(join(root, '.ndt-owners.json'), 'utf8'))).toEqual({ 'srv/n': { uid: 9, gid: 9 } });
  });

  it('refuses an etc, a home parent or a home that is a symlink, writing nothing through it', async () => {
    const outside = join(dir, 'outside-etc');
    await mkdir(outside);
    const r1 = join(dir, 'link-etc');
    await mkdir(r1);
    await symlink(outside, join(r1, 'etc'));
    await expect(shadowSetup({ root: r1 })).rejects.toMatchObject({ code: 'input_path', message: expect.stringMatching(/etc.*symlink/) });
    expect(await readdir(outside)).toEqual([]);

    const r2 = join(dir, 'link-home');
    await mkdir(r2);
    await symlink(outside, join(r2, 'home'));
    await expect(shadowSetup({ root: r2, users: [{ name: 'u', uid: 5 }] })).rejects.toMatchObject({ code: 'input_path' });
    expect(await readdir(outside)).toEqual([]);
    expect(await exists(join(r2, 'etc'))).toBe(false);

    const r3 = join(dir, 'link-home-itself');
    await mkdir(join(r3, 'home'), { recursive: true });
    await symlink(outside, join(r3, 'home', 'u'));
    await expect(shadowSetup({ root: r3, users: [{ name: 'u', uid: 5 }] })).rejects.toMatchObject({ code: 'input_path' });

    const r4 = join(dir, 'link-passwd');
    await mkdir(join(r4, 'etc'), { recursive: true });
    await writeFile(join(outside, 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
    await symlink(join(outside, 'passwd'), join(r4, 'etc', 'passwd'));
    await expect(addUser(r4, { name: 'u', uid: 5 })).rejects.toMatchObject({ code: 'input_path' });
    expect(await readFile(join(outside, 'passwd'), 'utf8')).toBe('root:x:0:0::/root:/bin/sh\n');
  });
});

describe('shadowSetup writes nothing when it fails', () => {
  for (const [what, users] of [
    [
      'a uid used twice',
      [
        { name: 'a', uid: 5 },
        { name: 'b', uid: 5 },
        { name: 'a', uid: 6 },
      ],
    ],
    [
      'an invalid user name',
      [
        { name: 'ok', uid: 5 },
        { name: 'bad name', uid: 6 },
      ],
    ],
    ['a missing supplementary group', [{ name: 'ok', uid: 5, groups: ['nope'] }]],
    [
      'a uid that is not a whole number',
      [
        { name: 'ok', uid: 5 },
        { name: 'x', uid: -1 },
      ],
    ],
  ] as const) {
    it(`on ${what}`, async () => {
      const root = await mkdtemp(join(dir, 'fail-'));
      await expect(shadowSetup({ root, users: users as never })).rejects.toMatchObject({ code: 'shadow_conflict' });
      expect(await readdir(root)).toEqual([]);
    });
  }

  it('leaves existing files as they were', async () => {
    const root = await mkdtemp(join(dir, 'fail-'));
    await shadowSetup({ root, users: [{ name: 'a', uid: 5 }] });
    const before = await readFile(join(root, 'etc/passwd'), 'utf8');
    await expect(
      shadowSetup({
        root,
        users: [
          { name: 'b', uid: 6 },
          { name: 'c', uid: 5 },
        ],
      }),
    ).rejects.toThrow(/uid 5 is already used by user a/);
    expect(await readFile(join(root, 'etc/passwd'), 'utf8')).toBe(before);
    expect(await exists(join(root, 'home/b'))).toBe(false);
  });
});

describe('shadowSetup owners record', () => {
  it('refuses a .ndt-owners.json that is a symlink, leaving its target alone', async () => {
    const root = await mkdtemp(join(dir, 'owners-'));
    const target = join(dir, 'owners-target.json');
    await writeFile(target, '{}\n');
    await symlink(target, join(root, '.ndt-owners.json'));
    await expect(shadowSetup({ root, users: [{ name: 'u', uid: 5 }] })).rejects.toMatchObject({ code: 'input_path' });
    expect(await readFile(target, 'utf8')).toBe('{}\n');
    expect(await readdir(root)).toEqual(['.ndt-owners.json']);
  });

  it('makes a root that does not exist yet', async () => {
    const root = join(dir, 'new-root', 'r');
    await shadowSetup({ root, users: [{ name: 'u', uid: 5 }] });
    expect((await stat(root)).mode & 0o777).toBe(0o755);
    expect(await readFile(join(root, 'etc/passwd'), 'utf8')).toContain('u:x:5:5::/home/u:/bin/sh');
  });
});

describe('shadowSetup owners record that is not JSON', () => {
  it('is refused without quoting it', async () => {
    const root = await mkdtemp(join(dir, 'owners-json-'));
    await writeFile(join(root, '.ndt-owners.json'), 'SECRET-TOKEN{');
    const err = (await shadowSetup({ root, users: [{ name: 'u', uid: 5 }] }).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'input_path', message: expect.stringContaining('is not valid JSON') });
    expect(err.message).not.toContain('SECRET');
  });
});
