// The user's terminal for the system shell, opened by path (the sidecar's own
// stdin/stdout carry the port protocol, and a port program has no controlling
// terminal, so /dev/tty alone would not do): raw mode while attached, the
// window size, resize notices, and a restore that is safe to call twice.
import { closeSync, constants, openSync } from 'node:fs';
import tty from 'node:tty';
import { OpError } from '../../errors.js';

export interface TerminalSize {
  rows: number;
  cols: number;
}

export const DEFAULT_TTY = '/dev/tty';
/** How often the size is polled: a port program gets no SIGWINCH (it is not in the terminal's foreground group). */
export const SIZE_POLL_MS = 200;

export function noTerminal(path: string, reason: string): OpError {
  return new OpError(
    'no_tty',
    `The Nerves system shell needs an interactive terminal, and ${path} is not one (${reason}).`,
    'Run it from a terminal, or run one command in the build container without a terminal: ' +
      '`mix nerves_docker_ts.shell -- CMD ARGS...` or `nerves-docker shell --spec FILE.json -- CMD ARGS...`.',
  );
}

export class Terminal {
  private rawOn = false;
  private closed = false;

  private constructor(
    readonly path: string,
    /** Opened but paused: nothing is read unless a reader is attached. */
    readonly input: tty.ReadStream,
    readonly output: tty.WriteStream,
  ) {}

  /** Opens the terminal at `path` (two descriptors: the read and write handles must not share one). */
  static open(path: string = DEFAULT_TTY): Terminal {
    const fds: number[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
        fds.push(fd);
        if (!tty.isatty(fd)) throw noTerminal(path, 'not a terminal device');
      }
    } catch (err) {
      for (const fd of fds) closeSync(fd);
      if (err instanceof OpError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw noTerminal(path, e.code === 'ENXIO' ? 'no controlling terminal' : (e.code ?? e.message));
    }
    const input = new tty.ReadStream(fds[0]!);
    const output = new tty.WriteStream(fds[1]!);
    input.on('error', () => {});
    output.on('error', () => {});
    input.pause();
    return new Terminal(path, input, output);
  }

  /** Tests a path without keeping it open. */
  static available(path: string = DEFAULT_TTY): boolean {
    try {
      Terminal.open(path).close();
      return true;
    } catch {
      return false;
    }
  }

  size(): TerminalSize {
    // getWindowSize() returns the size cached at the last SIGWINCH that Node
    // saw for process.stdout; ask the terminal again (Node's own refresh).
    (this.output as unknown as { _refreshSize?: () => void })._refreshSize?.();
    const [cols, rows] = this.output.getWindowSize();
    return { rows: rows || 24, cols: cols || 80 };
  }

  setRaw(on: boolean): void {
    if (this.closed || this.rawOn === on) return;
    this.input.setRawMode(on);
    this.rawOn = on;
  }

  write(data: string | Buffer): void {
    if (!this.closed) this.output.write(data);
  }

  /** Calls `onResize` whenever the size changes (polled, and on SIGWINCH when we get it); returns the stopper. */
  watchSize(onResize: (size: TerminalSize) => void): () => void {
    let last = this.size();
    const check = () => {
      if (this.closed) return;
      const now = this.size();
      if (now.rows !== last.rows || now.cols !== last.cols) {
        last = now;
        onResize(now);
      }
    };
    const timer = setInterval(check, SIZE_POLL_MS);
    timer.unref();
    process.on('SIGWINCH', check);
    return () => {
      clearInterval(timer);
      process.off('SIGWINCH', check);
    };
  }

  /** Leaves raw mode and closes both descriptors; later calls do nothing. */
  close(): void {
    if (this.closed) return;
    try {
      this.setRaw(false);
    } finally {
      this.closed = true;
      this.input.destroy();
      this.output.end();
      this.output.destroy();
    }
  }
}
