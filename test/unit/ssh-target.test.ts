// ssh:// addresses: what reaches the system ssh client's argv, and what is
// refused before it could (an option in the host or user, shell characters).
import { describe, expect, it } from 'vitest';
import { parseHost } from '../../src/engine/discovery.js';
import { OpError } from '../../src/errors.js';
import { checkSshTarget, dialStdioCommand, sshCommandLine, sshCommonArgs } from '../../src/engine/ssh/target.js';

const parse = (h: string) => parseHost(h, 'DOCKER_HOST', () => null);

function refusal(h: string): OpError {
  try {
    parse(h);
  } catch (err) {
    expect(err).toBeInstanceOf(OpError);
    return err as OpError;
  }
  throw new Error(`${h} was accepted`);
}

describe('ssh:// addresses', () => {
  it('keeps what the address names and leaves the rest to ~/.ssh/config', () => {
    expect(parse('ssh://builder')).toEqual({
      kind: 'ssh',
      host: 'builder',
      port: 22,
      user: undefined,
      portGiven: false,
      socketPath: undefined,
    });
    expect(parse('ssh://me@builder:2222/run/user/1000/docker.sock')).toEqual({
      kind: 'ssh',
      host: 'builder',
      port: 2222,
      user: 'me',
      portGiven: true,
      socketPath: '/run/user/1000/docker.sock',
    });
  });

  it('refuses a host or user that ssh would read as an option, and shell characters', () => {
    for (const h of ['ssh://-oProxyCommand=touch%20/tmp/x', 'ssh://-builder', 'ssh://-l@builder']) {
      const err = refusal(h);
      expect(err.code).toBe('engine_address');
      expect(err.message).toContain('starts with "-"');
    }
    expect(refusal('ssh://b;x').message).toContain('only letters');
    expect(refusal('ssh://builder/run/x%20y;rm').message).toContain('socket path');
    expect(() => checkSshTarget({ host: 'b', socketPath: '/a/../b' })).toThrow(/socket path/);
    expect(refusal('ssh://me:secret@builder').message).toContain('no password');
  });

  it("ssh gets an argv: -l and -p only when named, -- before the host, the docker CLI's remote command", () => {
    const t = checkSshTarget({ host: 'builder' });
    expect(sshCommonArgs(t, '/tmp/d/master')).toEqual([
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=30',
      '-o',
      'ControlPath=/tmp/d/master',
    ]);
    expect(dialStdioCommand(t)).toEqual(['docker', 'system', 'dial-stdio']);
    expect(sshCommandLine(t)).toBe('ssh builder');
    const full = checkSshTarget({ host: 'b.example', user: 'me', port: 2222, socketPath: '/run/docker.sock' });
    expect(sshCommonArgs(full, '/c').slice(-4)).toEqual(['-l', 'me', '-p', '2222']);
    expect(dialStdioCommand(full)).toEqual(['docker', '--host', 'unix:///run/docker.sock', 'system', 'dial-stdio']);
    expect(sshCommandLine(full)).toBe('ssh -p 2222 me@b.example');
  });
});
