// What the user sees while a job runs: headers, headlines, warnings, and
// either a live status line (Mix on a terminal) or keep-alive dots.
import type { OpContext } from '../../protocol/op-context.js';

export const KEEPALIVE_MS = 10_000;

export class Reporter {
  private step = '';
  private stepStart = Date.now();
  private readonly jobStart = Date.now();
  private lastHeadline = '';
  private lastShown = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: Pick<OpContext, 'emit'>,
    private readonly tty: boolean,
  ) {}

  header(text: string): void {
    this.shown();
    this.ctx.emit('header', text);
  }

  headline(text: string): void {
    this.lastHeadline = text;
    this.shown();
    this.ctx.emit('headline', text);
  }

  info(text: string): void {
    this.shown();
    this.ctx.emit('info', text);
  }

  warn(text: string): void {
    this.shown();
    this.ctx.emit('warn', text);
  }

  progress(data: Record<string, unknown>): void {
    this.ctx.emit('progress', data);
  }

  /** Marks the start of a step (for the status line and the timings). */
  startStep(name: string): void {
    this.step = name;
    this.stepStart = Date.now();
  }

  /** Starts the once-a-second ticker; call stop() when the job ends. */
  start(): void {
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  elapsedSeconds(): number {
    return (Date.now() - this.jobStart) / 1000;
  }

  private shown(): void {
    this.lastShown = Date.now();
  }

  private tick(): void {
    const now = Date.now();
    if (this.tty) {
      const stepSecs = Math.round((now - this.stepStart) / 1000);
      const total = formatDuration((now - this.jobStart) / 1000);
      const headline = this.lastHeadline.replace(/\x1b\[[0-9;]*m/g, '');
      this.ctx.emit('status', `[${this.step} ${stepSecs}s | total ${total}] ${headline}`);
    } else if (now - this.lastShown >= KEEPALIVE_MS) {
      this.lastShown = now;
      this.ctx.emit('dot', null);
    }
  }
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m < 60 ? `${m}m${String(s).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
