import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile, mkdir, stat } from 'node:fs/promises';
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
