// An sshd of the test's own on 127.0.0.1: its own config, host key and
// authorized client key, generated into a temp dir; a child of the test,
// stopped after. Clients reach it through an ssh config alias ("builder")
// in a private HOME/.ssh/config, with the host key in its own known_hosts.
//
// OpenSSH reads ~/.ssh/config from the user's passwd entry, not $HOME: the
// client side is an `ssh` wrapper on a private PATH directory that runs the
// system ssh with `-F HOME/.ssh/config` (and every argument as given).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { freePort } from './engine-helpers.js';

export const SSHD = '/usr/sbin/sshd';

export interface Sshd {
  dir: string;
  port: number;
  /** The directory to put first on PATH: its `ssh` reads the private config. */
  bin: string;
  /** The private ~/.ssh/config. */
  config: string;
  /** TCP connections sshd accepted so far (LogLevel VERBOSE: "Connection from"). */
  connections(): number;
  log(): string;
  stop(): Promise<void>;
}

function keygen(path: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ndt-test', '-f', path]);
}

/** Waits for sshd's "Server listening" line (a probe connection would count as a client's). */
async function listening(proc: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!/Server listening on 127\.0\.0\.1/.test(log())) {
    if (proc.exitCode !== null || Date.now() > until) throw new Error(`sshd did not start listening:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts the sshd. `strangers` are extra aliases of the same server whose
 * identity file is a key of their own, which the sshd does not authorize;
 * `wrap`: argv it is started under (e.g. nsenter into a network namespace).
 */
export async function startSshd(strangers: string[] = [], wrap: string[] = []): Promise<Sshd> {
  const dir = mkdtempSync('/tmp/ndt-sshd-');
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
  // sshd's privilege separation directory (Debian's package makes it at boot).
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  execFileSync(SSHD, ['-t', '-f', join(dir, 'sshd_config')]);

  const home = join(dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  const hostKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(join(home, '.ssh/known_hosts'), `[127.0.0.1]:${port} ${hostKey}\n`);
  const host = (name: string, key: string) =>
    [
      `Host ${name}`,
      '  HostName 127.0.0.1',
      `  Port ${port}`,
      `  User ${userInfo().username}`,
      `  IdentityFile ${key}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${join(home, '.ssh/known_hosts')}`,
      '  StrictHostKeyChecking yes',
      '',
    ].join('\n');
  const config = join(home, '.ssh/config');
  for (const name of strangers) keygen(join(dir, `${name}_key`));
  const hosts = [host('builder', join(dir, 'client_key')), ...strangers.map((name) => host(name, join(dir, `${name}_key`)))];
  writeFileSync(config, hosts.join('\n'), { mode: 0o600 });
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F '${config}' "$@"\n`, { mode: 0o755 });

  const argv = [...wrap, SSHD, '-D', '-E', logFile, '-f', join(dir, 'sshd_config')];
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  await listening(proc, log, 10_000);
  return {
    dir,
    port,
    bin,
    config,
    log,
    connections: () => log().match(/Connection from 127\.0\.0\.1 port \d+/g)?.length ?? 0,
    stop: async () => {
      if (proc.exitCode === null) {
        const gone = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
