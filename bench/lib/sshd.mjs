// An sshd of the bench's own on 127.0.0.1 (the same idea as
// test/integration/engines/sshd.ts, in plain ESM for bench/): its own config,
// host key and client key in a temp dir, reached through the alias "builder"
// of a private ssh config, by an `ssh` wrapper on a private PATH directory
// (OpenSSH reads ~/.ssh/config from the passwd entry, not $HOME). The other
// side's `docker system dial-stdio` is this machine's docker CLI, so
// DOCKER_HOST=ssh://builder reaches the local dockerd through a real ssh
// connection. Needs root and openssh-server.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';

export const SSHD = '/usr/sbin/sshd';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const keygen = (path) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ndt-bench', '-f', path]);

/** Whether this machine can run the bench's sshd (root, sshd, ssh, ssh-keygen). */
export function sshdMissing() {
  if (process.getuid?.() !== 0) return 'not root';
  for (const p of [SSHD, '/usr/bin/ssh', '/usr/bin/ssh-keygen'])
    if (!existsSync(p)) return `${p} is missing (apt-get install openssh-server openssh-client)`;
  return null;
}

/** Starts it; returns { bin (put first on PATH), config, connections(), stop() }. */
export async function startSshd() {
  const dir = mkdtempSync('/tmp/ndt-bench-sshd-');
  chmodSync(dir, 0o755);
  const port = await freePort();
  keygen(join(dir, 'host_key'));
  keygen(join(dir, 'client_key'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
  const logFile = join(dir, 'sshd.log');
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PidFile none',
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'LogLevel VERBOSE',
      'MaxStartups 100',
      'MaxSessions 100',
      '',
    ].join('\n'),
  );
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  const home = join(dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  const hostKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  const knownHosts = join(home, '.ssh/known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKey}\n`);
  const config = join(home, '.ssh/config');
  writeFileSync(
    config,
    [
      'Host builder',
      '  HostName 127.0.0.1',
      `  Port ${port}`,
      `  User ${userInfo().username}`,
      `  IdentityFile ${join(dir, 'client_key')}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${knownHosts}`,
      '  StrictHostKeyChecking yes',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F '${config}' "$@"\n`, { mode: 0o755 });
  const proc = spawn(SSHD, ['-D', '-E', logFile, '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const until = Date.now() + 10_000;
  while (!/Server listening on 127\.0\.0\.1/.test(log())) {
    if (proc.exitCode !== null || Date.now() > until) throw new Error(`sshd did not start listening:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    bin,
    config,
    connections: () => log().match(/Connection from 127\.0\.0\.1 port \d+/g)?.length ?? 0,
    async stop() {
      if (proc.exitCode === null) {
        const gone = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
