// The system shell's TERM (src/runner/shell/term.ts) in a real container of
// the example's build image, which has terminfo for dumb, linux, vt100,
// xterm and xterm-256color only: the host's TERM when the image has it, else
// the first fallback it has, and xterm-256color when the image has no
// terminfo at all (an empty tmpfs over its one terminfo directory).
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseTerm } from '../../src/runner/shell/term.js';
import { docker, engineAnswers, NEW_TAG } from './helpers/example.js';

async function startContainer(hostConfig: Docker.HostConfig = {}): Promise<Docker.Container> {
  const c = await docker.createContainer({
    Image: NEW_TAG,
    Entrypoint: ['/bin/sleep'],
    Cmd: ['600'],
    HostConfig: { AutoRemove: true, ...hostConfig },
  });
  await c.start();
  return c;
}

describe('the system shell picks a TERM the build image has', () => {
  let withTerminfo: Docker.Container;
  let without: Docker.Container;
  beforeAll(async () => {
    if (!(await engineAnswers())) throw new Error('No Docker engine answers: run scripts/docker-engine (make test does).');
    [withTerminfo, without] = await Promise.all([startContainer(), startContainer({ Tmpfs: { '/usr/share/terminfo': 'ro' } })]);
  });
  afterAll(async () => {
    await Promise.all([withTerminfo, without].map((c) => c?.kill().catch(() => {})));
  });

  it("keeps the host's TERM when the image has its entry", async () => {
    expect(await chooseTerm(withTerminfo, 'xterm', '/')).toEqual({ term: 'xterm', note: null });
    expect(await chooseTerm(withTerminfo, 'linux', '/')).toEqual({ term: 'linux', note: null });
  });

  it('falls back to xterm-256color (then xterm, vt100) when the image lacks it, and says so', async () => {
    const c = await chooseTerm(withTerminfo, 'tmux-256color', '/');
    expect(c.term).toBe('xterm-256color');
    expect(c.note).toBe('the build image has no terminfo entry for TERM=tmux-256color; the shell uses TERM=xterm-256color');
  });

  it('without any terminfo in the image: xterm-256color, and says why', async () => {
    const c = await chooseTerm(without, 'tmux-256color', '/');
    expect(c.term).toBe('xterm-256color');
    expect(c.note).toMatch(/^the build image has no terminfo at all; the shell uses TERM=xterm-256color/);
  });

  it('leaves dumb, an empty TERM and odd names alone, without an exec', async () => {
    expect(await chooseTerm(withTerminfo, 'dumb', '/')).toEqual({ term: 'dumb', note: null });
    expect(await chooseTerm(withTerminfo, '', '/')).toEqual({ term: '', note: null });
    expect(await chooseTerm(withTerminfo, 'a b', '/')).toEqual({ term: 'a b', note: null });
  });
});
