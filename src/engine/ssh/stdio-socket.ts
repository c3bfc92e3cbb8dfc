// A connection to the engine that is an ssh child process: what is written
// goes to its stdin, what it prints is read, as the docker CLI's
// "commandconn" does. It has what Node's HTTP client and a keep-alive agent
// ask of a socket (timeouts, ref/unref, keep-alive and no-delay as no-ops),
// and it serves hijacked streams (exec and attach upgrades) as it is.
//
// When ssh fails before the engine said anything (authentication, the
// remote docker missing), the connection ends with an SshError carrying
// what ssh printed on stderr.
import type { ChildProcessByStdio } from 'node:child_process';
import { Duplex } from 'node:stream';
import type { Readable, Writable } from 'node:stream';
import { SshError, sshSaid } from './master.js';

type SshChild = ChildProcessByStdio<Writable, Readable, Readable>;

export class StdioSocket extends Duplex {
  readonly connecting = false;
  readonly remoteAddress = undefined;
  timeout = 0;
  private timer: NodeJS.Timeout | undefined;
  private stderr = '';
  private answered = false;

  constructor(
    private readonly child: SshChild,
    /** How the command reads to the user, for errors: "ssh builder docker system dial-stdio". */
    private readonly what: string,
  ) {
    super({ allowHalfOpen: true });
    child.stdout.on('data', (chunk: Buffer) => {
      this.answered = true;
      this.touch();
      if (!this.push(chunk)) child.stdout.pause();
    });
    // An end before any answer is ssh failing: its exit status and stderr say why.
    child.stdout.once('end', () => {
      if (this.answered || child.exitCode !== null || child.signalCode !== null) this.endOrFail();
      else child.once('exit', () => this.endOrFail());
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-4096);
    });
    child.stdin.on('error', () => {}); // EPIPE once ssh is gone: its exit says why
    child.once('error', (err) => this.destroy(err));
    child.once('exit', () => {
      if (!this.answered) this.failIfSshFailed();
    });
  }

  private endOrFail(): void {
    if (!this.answered && this.failIfSshFailed()) return;
    this.push(null);
  }

  /** Ends the connection with ssh's own words when it exited with an error before the engine answered. */
  private failIfSshFailed(): boolean {
    const { exitCode: code, signalCode: signal } = this.child;
    if (this.destroyed || (code === null && signal === null) || code === 0) return false;
    // stderr may still be in its pipe: read what is there once it closes (briefly).
    const fail = () => {
      if (this.destroyed) return;
      const said = sshSaid(this.stderr);
      this.destroy(
        new SshError(`${this.what} fails (${signal ? `signal ${signal}` : `exit status ${code}`})${said ? `: ${said}` : ''}`, said),
      );
    };
    if (this.child.stderr.readableEnded || this.child.stderr.destroyed) fail();
    else {
      this.child.stderr.once('close', fail);
      setTimeout(fail, 200).unref();
    }
    return true;
  }

  /** The ssh process (for the transport's registry of live children). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.touch();
    this.child.stdin.write(chunk, (err) => cb(err ?? null));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.child.stdin.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    clearTimeout(this.timer);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    this.child.stdin.destroy();
    this.child.stdout.destroy();
    cb(err);
  }

  /** Like net.Socket: 'timeout' after `ms` without traffic (0: never). */
  setTimeout(ms: number, cb?: () => void): this {
    this.timeout = ms;
    if (cb) this.once('timeout', cb);
    this.touch();
    return this;
  }

  private touch(): void {
    clearTimeout(this.timer);
    if (this.timeout > 0 && !this.destroyed) this.timer = setTimeout(() => this.emit('timeout'), this.timeout).unref();
  }

  setKeepAlive(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  /** An idle keep-alive connection does not keep this process alive. */
  unref(): this {
    this.child.unref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    return this;
  }

  ref(): this {
    this.child.ref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) (s as unknown as { ref?: () => void }).ref?.();
    return this;
  }
}
