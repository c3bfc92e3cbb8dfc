// `nerves-docker shell`'s argv (node:util parseArgs): the accepted syntax
// `[--spec FILE.json] [--tty PATH] [-- CMD...]`, everything after `--` passed
// on as the command, and usage errors as OpError('usage') / exit status 64.
import { describe, expect, it, vi } from 'vitest';
import { parseShellArgs, runShellCommand } from '../../src/cli/shell.js';
import { OpError } from '../../src/errors.js';

function usageOf(argv: string[]): string {
  try {
    parseShellArgs(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(OpError);
    expect((err as OpError).code).toBe('usage');
    return (err as OpError).message;
  }
  throw new Error(`no usage error for ${JSON.stringify(argv)}`);
}

describe('nerves-docker shell arguments', () => {
  it('accepts --spec and --tty (with = or a separate value) and passes everything after -- as the command', () => {
    expect(parseShellArgs([])).toEqual({ spec: null, tty: null, cmd: null, help: false });
    expect(parseShellArgs(['--spec', 's.json', '--tty=/dev/pts/3'])).toEqual({ spec: 's.json', tty: '/dev/pts/3', cmd: null, help: false });
    expect(parseShellArgs(['--spec=s.json', '--', 'sh', '-c', 'echo --tty x -- y', '--spec'])).toEqual({
      spec: 's.json',
      tty: null,
      cmd: ['sh', '-c', 'echo --tty x -- y', '--spec'],
      help: false,
    });
    expect(parseShellArgs(['-h']).help).toBe(true);
    expect(parseShellArgs(['--help']).help).toBe(true);
  });

  it('rejects unknown options, stray words, a missing value and an empty command', () => {
    expect(usageOf(['--bogus'])).toContain("'--bogus'");
    expect(usageOf(['make'])).toBe('unknown argument "make"');
    expect(usageOf(['--spec'])).toContain('--spec');
    expect(usageOf(['--spec', 's.json', '--'])).toBe('nothing after --');
    // Not "invalid shell request: tty_path must be an absolute path" (an invalid spec, 65) from the op.
    expect(usageOf(['--tty', 'pts/3'])).toBe('--tty needs the absolute path of a terminal device, such as /dev/pts/3 (got "pts/3")');
    expect(usageOf(['--tty='])).toContain('--tty needs the absolute path');
  });

  it('exits 64 on a usage error and without a spec, printing the usage', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const saved = process.env.NERVES_DOCKER_SPEC;
    delete process.env.NERVES_DOCKER_SPEC;
    try {
      expect(await runShellCommand(['--bogus'])).toBe(64);
      expect(await runShellCommand(['--', 'true'])).toBe(64);
      const text = err.mock.calls.map((c) => String(c[0])).join('');
      expect(text).toContain('usage: nerves-docker shell');
      expect(text).toContain('a job spec is needed');
    } finally {
      if (saved !== undefined) process.env.NERVES_DOCKER_SPEC = saved;
      err.mockRestore();
    }
  });
});
