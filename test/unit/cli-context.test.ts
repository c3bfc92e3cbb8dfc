// The CLI's answer to "create the image?" when no terminal can answer: yes
// by --yes (build, archive) or by NERVES_DOCKER_TS_YES=1 (every command, as
// under Mix), else no with a hint naming only what the command takes (the
// shell has no --yes).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cliContext } from '../../src/cli/context.js';

describe('cli context prompts without a terminal', () => {
  let stderr: string[];
  let isTTY: boolean | undefined;
  const saved = process.env.NERVES_DOCKER_TS_YES;
  beforeEach(() => {
    stderr = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr.push(String(chunk));
      return true;
    });
    isTTY = process.stdin.isTTY;
    Object.defineProperty(process.stdin, 'isTTY', { value: false, configurable: true });
    delete process.env.NERVES_DOCKER_TS_YES;
  });
  afterEach(() => {
    vi.restoreAllMocks();
    Object.defineProperty(process.stdin, 'isTTY', { value: isTTY, configurable: true });
    if (saved === undefined) delete process.env.NERVES_DOCKER_TS_YES;
    else process.env.NERVES_DOCKER_TS_YES = saved;
  });

  async function ask(opts: { yes: boolean; yesFlag: boolean }): Promise<unknown> {
    const ctx = cliContext({ json: false, ...opts });
    try {
      return await ctx.prompt('Proceed? ');
    } finally {
      ctx.dispose();
    }
  }

  it('NERVES_DOCKER_TS_YES=1 answers yes for build and archive, as --yes does', async () => {
    expect(await ask({ yes: true, yesFlag: true })).toBe(true);
    process.env.NERVES_DOCKER_TS_YES = '1';
    expect(await ask({ yes: false, yesFlag: true })).toBe(true);
    expect(await ask({ yes: false, yesFlag: false })).toBe(true);
    expect(stderr.join('')).toBe('');
  });

  it('says no, and how to say yes with what the command takes', async () => {
    expect(await ask({ yes: false, yesFlag: true })).toBe(false);
    expect(stderr.join('')).toBe('Proceed? \nno terminal to answer on: pass --yes (or set NERVES_DOCKER_TS_YES=1) to answer yes\n');
    stderr.length = 0;
    expect(await ask({ yes: false, yesFlag: false })).toBe(false);
    expect(stderr.join('')).toBe('Proceed? \nno terminal to answer on: set NERVES_DOCKER_TS_YES=1 to answer yes\n');
  });
});
