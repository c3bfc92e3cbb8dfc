// One ssh connection per engine, shared: an OpenSSH control master
// (ControlMaster) whose socket lives in a private 0700 directory of this
// process. Every connection to the engine is then an ssh session multiplexed
// over it: one TCP connection and one authentication for a whole build.
//
// `ssh -f -N` puts the master in the background once it is authenticated,
// so its exit status says whether the connection works. The master is
// stopped when this process exits (stopMasterSync, from the exit hook); if
// this process is killed outright, ControlPersist ends it a few seconds
// after its last session (whose stdin was ours) is gone.
import { execFile, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sshCommandLine, sshCommonArgs, type SshTarget } from './target.js';

/** Seconds the master outlives its last session: short, since it is also stopped at exit. */
export const CONTROL_PERSIST_S = 10;

/**
 * Seconds between the master's keep-alive messages; after three unanswered
 * ones (ssh's ServerAliveCountMax) it gives up, and with it every session:
 * a link that dies silently ends the build in about half a minute (at 30 s
 * it took two minutes, test/integration/engines/dead-link.test.ts).
 */
const SERVER_ALIVE_S = 10;

export class SshError extends Error {
  constructor(
    message: string,
    /** What ssh said on stderr (its last lines), for the user. */
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface Master {
  /** The private directory holding the control socket and the master's log. */
  dir: string;
  controlPath: string;
  /** The background master's process id (from `ssh -O check`), once it runs. */
  pid: number | null;
}

/** A private directory for the control socket (mkdtemp makes it 0700); short, for the socket path limit. */
export function newMasterDir(): Master {
  const dir = mkdtempSync(join(tmpdir(), 'ndt-ssh-'));
  return { dir, controlPath: join(dir, 'master'), pid: null };
}

/** The last lines ssh wrote, without its "Warning: Permanently added" chatter. */
export function sshSaid(text: string): string {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Warning: Permanently added/.test(l))
    .slice(-4)
    .join(' ');
}

/** Starts the master for `target`; resolves once it is connected and authenticated, rejects with what ssh said. */
export async function startMaster(ssh: string, target: SshTarget, m: Master): Promise<void> {
  const log = join(m.dir, 'master.log');
  const fd = openSync(log, 'w', 0o600);
  const args = [
    ...sshCommonArgs(target, m.controlPath),
    '-o',
    'ControlMaster=yes',
    '-o',
    `ControlPersist=${CONTROL_PERSIST_S}`,
    '-o',
    `ServerAliveInterval=${SERVER_ALIVE_S}`,
    '-N',
    '-f',
    '--',
    target.host,
  ];
  const status = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(ssh, args, { stdio: ['ignore', 'ignore', fd] });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  }).finally(() => closeSync(fd));
  if (status !== 0) {
    const said = sshSaid(readFileSync(log, 'utf8'));
    throw new SshError(`${sshCommandLine(target)} fails (exit status ${status})${said ? `: ${said}` : ''}`, said);
  }
  m.pid = await masterPid(ssh, target, m);
}

/** The master's process id, as `ssh -O check` reports it ("Master running (pid=N)"). */
function masterPid(ssh: string, target: SshTarget, m: Master): Promise<number | null> {
  return new Promise((resolve) => {
    execFile(
      ssh,
      [...sshCommonArgs(target, m.controlPath), '-O', 'check', '--', target.host],
      { timeout: 10_000 },
      (_err, stdout, stderr) => {
        const pid = /pid=(\d+)/.exec(`${stdout}${stderr}`);
        resolve(pid ? Number(pid[1]) : null);
      },
    );
  });
}

/** Stops the master and removes its directory; synchronous, for the process's exit hook. */
export function stopMasterSync(m: Master): void {
  if (m.pid !== null) {
    try {
      process.kill(m.pid, 'SIGTERM');
    } catch {
      // already gone (ControlPersist, or the connection dropped)
    }
    m.pid = null;
  }
  rmSync(m.dir, { recursive: true, force: true });
}
