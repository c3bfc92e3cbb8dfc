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
import type { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { Readable, Writable } from 'node:stream';
import { SshError, sshSaid } from './master.js';

type SshChild = ChildProcessByStdio<Writable, Readable, Readable>;

/** Calls `then` once: at `event`, or 200 ms from now if it has not come. */
function briefly(emitter: EventEmitter, event: string, then: () => void): void {
  let called = false;
  const once = () => {
    if (called) return;
    called = true;
    emitter.off(event, once);
    then();
  };
  emitter.once(event, once);
  setTimeout(once, 200).unref();
}

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
    const { exitCode: code } = this.child;
    if (this.destroyed || !this.exited() || code === 0) return false;
    this.whenStderrRead(() => {
      if (!this.destroyed) this.destroy(this.sshError('fails'));
    });
    return true;
  }

  private exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Calls `then` once what ssh printed on stderr is read: its pipe closed, or briefly after now. */
  private whenStderrRead(then: () => void): void {
    if (this.child.stderr.readableEnded || this.child.stderr.destroyed) then();
    else briefly(this.child.stderr, 'close', then);
  }

  /** How ssh ended, with its last words: "ssh ... dial-stdio fails (exit status 255): ...". */
  private sshError(verb: string): SshError {
    const { exitCode: code, signalCode: signal } = this.child;
    const said = sshSaid(this.stderr);
    return new SshError(`${this.what} ${verb} (${signal ? `signal ${signal}` : `exit status ${code}`})${said ? `: ${said}` : ''}`, said);
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
    this.child.stdin.write(chunk, (err) => (err ? this.writeFailed(err, cb) : cb(null)));
  }

  /**
   * A write refused because ssh is gone (EPIPE, or its stdin closed at its
   * exit: its master died with the link): fails with how ssh ended and what
   * it said, once its exit is known (briefly), instead of the bare errno.
   */
  private writeFailed(err: Error, cb: (err?: Error | null) => void): void {
    const fail = () => (this.exited() ? this.whenStderrRead(() => cb(this.sshError('ended'))) : cb(err));
    if (this.exited()) fail();
    else briefly(this.child, 'exit', fail);
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
