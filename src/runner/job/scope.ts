// One cleanup scope per job: whatever a stage opens (the lock, build.log,
// the FIFOs, the container) is held here as it is opened, and every way out
// of the job closes it the same way, newest first: the normal end, an
// error, an interrupt (what must stop at once is abandoned as soon as the
// op is cancelled) and the sidecar's exit (its cleanup registry runs what
// the scope still holds).
import type { OpContext } from '../../protocol/op-context.js';

type Work = () => Promise<void> | void;

export interface Held {
  label: string;
  /** How the job lets it go at its end. */
  close: Work;
  /** At an interrupt or the sidecar's exit, instead of close (and then close is skipped). */
  abandon?: Work;
  /** close may finish after the reply: the scope does not wait for it (the sidecar's exit still does). */
  background?: boolean;
}

interface Entry extends Held {
  done: Promise<void> | null;
  unregister: () => void;
}

export class JobScope {
  private readonly held: Entry[] = [];
  private closed = false;

  constructor(private readonly op: Pick<OpContext, 'cleanup' | 'signal' | 'debug'>) {
    op.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Holds `item` until the scope closes; an item held after an interrupt is abandoned at once. */
  hold(item: Held): void {
    const entry: Entry = { ...item, done: null, unregister: () => {} };
    entry.unregister = this.op.cleanup.add(item.label, () => this.finish(entry, item.abandon ?? item.close));
    this.held.push(entry);
    if (this.op.signal.aborted && item.abandon) void this.finish(entry, item.abandon);
  }

  /** Lets everything go, newest first; a failure to let one go is reported and the rest still go. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.op.signal.removeEventListener('abort', this.onAbort);
    for (const entry of this.held.reverse()) {
      const done = this.finish(entry, entry.close);
      if (!entry.background) await done;
    }
  }

  private readonly onAbort = () => {
    for (const entry of [...this.held].reverse()) if (entry.abandon) void this.finish(entry, entry.abandon);
  };

  /** Runs one way of letting `entry` go, once whichever way comes first; unregisters it when done. */
  private finish(entry: Entry, work: Work): Promise<void> {
    entry.done ??= (async () => {
      try {
        await work();
      } catch (err) {
        this.op.debug(`cleanup: ${entry.label}: ${(err as Error).message}`);
      } finally {
        entry.unregister();
      }
    })();
    return entry.done;
  }
}
