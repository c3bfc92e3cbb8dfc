// ssh:// engines through the system ssh client, as `docker -H ssh://` does:
// each connection to the engine is `ssh HOST docker system dial-stdio`, so
// ~/.ssh/config (aliases, User, Port, IdentityFile, ProxyJump), known_hosts
// and the ssh agent apply as they do for the user. Connections are kept
// open and reused (a keep-alive HTTP agent) and all go over one control
// master per engine (master.ts): a build opens one ssh connection.
//
// One transport per target and process, shared by every client of it.
// Everything it started (sessions and master) is stopped when the process
// exits.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { Agent } from 'node:http';
import { delimiter, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { newMasterDir, startMaster, stopMasterSync, type Master } from './master.js';
import { StdioSocket } from './stdio-socket.js';
import { dialStdioCommand, sshCommandLine, sshCommonArgs, type SshTarget } from './target.js';

/** The ssh client on PATH, or null (then the built-in ssh2 client of docker-modem is the fallback). */
export function findSshClient(env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, 'ssh');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

export class SshTransport {
  readonly agent: Agent;
  private readonly master: Master;
  private ready: Promise<void> | null = null;
  private readonly live = new Set<StdioSocket>();
  /** Sessions started, for NERVES_DEBUG and tests. */
  sessions = 0;

  constructor(
    readonly ssh: string,
    readonly target: SshTarget,
  ) {
    this.master = newMasterDir();
    this.agent = new Agent({ keepAlive: true });
    // Node's Agent accepts any duplex from createConnection, given now or through the callback.
    (this.agent as unknown as { createConnection: unknown }).createConnection = (
      _opts: unknown,
      cb: (err: Error | null, s?: Duplex) => void,
    ) => {
      this.connect().then(
        (s) => cb(null, s),
        (err: Error) => cb(err),
      );
      return undefined;
    };
  }

  /** How the engine is reached, for NERVES_DEBUG=1 and doctor. */
  describe(): string {
    return `through ${this.ssh} (\`${sshCommandLine(this.target)} ${dialStdioCommand(this.target).join(' ')}\`, one shared connection: a ControlMaster in ${this.master.dir})`;
  }

  /** The master, started on first use and again when it is gone (it ends after ControlPersist without sessions). */
  private masterUp(): Promise<void> {
    if (this.ready && (this.master.pid === null || existsSync(this.master.controlPath))) return this.ready;
    const p = startMaster(this.ssh, this.target, this.master);
    this.ready = p;
    // A failure is reported to the waiting requests; the next request tries again.
    p.catch(() => {
      if (this.ready === p) this.ready = null;
    });
    return p;
  }

  private async connect(): Promise<StdioSocket> {
    await this.masterUp();
    const args = [
      ...sshCommonArgs(this.target, this.master.controlPath),
      '-o',
      'ControlMaster=no',
      '-T',
      '--',
      this.target.host,
      ...dialStdioCommand(this.target),
    ];
    const child = spawn(this.ssh, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.sessions++;
    const socket = new StdioSocket(child, `${sshCommandLine(this.target)} ${dialStdioCommand(this.target).join(' ')}`);
    this.live.add(socket);
    child.once('exit', () => this.live.delete(socket));
    return socket;
  }

  /** Ends every session and the master; synchronous, for the exit hook. */
  closeSync(): void {
    this.agent.destroy();
    for (const s of this.live) {
      if (s.pid !== undefined) {
        try {
          process.kill(s.pid, 'SIGTERM');
        } catch {
          // gone
        }
      }
    }
    this.live.clear();
    stopMasterSync(this.master);
    this.ready = null;
  }
}

const transports = new Map<string, SshTransport>();
let hooked = false;

/** The transport of this target in this process (made on first use). */
export function sshTransport(ssh: string, target: SshTarget): SshTransport {
  const key = JSON.stringify([ssh, target.host, target.user, target.port, target.socketPath]);
  let t = transports.get(key);
  if (!t) {
    t = new SshTransport(ssh, target);
    transports.set(key, t);
    if (!hooked) {
      hooked = true;
      process.once('exit', closeSshTransports);
    }
  }
  return t;
}

/** Stops every ssh process this process started (also run at exit). */
export function closeSshTransports(): void {
  for (const t of transports.values()) t.closeSync();
  transports.clear();
}
