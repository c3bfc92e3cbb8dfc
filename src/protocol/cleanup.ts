// Work that must run before the sidecar exits (stop containers, remove
// temporary files), whatever the reason it exits.
export type CleanupFn = () => Promise<void> | void;

export class CleanupRegistry {
  private readonly tasks = new Map<number, { label: string; fn: CleanupFn }>();
  private next = 1;

  /** Registers a task; the returned function unregisters it once the work is done normally. */
  add(label: string, fn: CleanupFn): () => void {
    const key = this.next++;
    this.tasks.set(key, { label, fn });
    return () => {
      this.tasks.delete(key);
    };
  }

  get size(): number {
    return this.tasks.size;
  }

  /** Runs every registered task at once, newest first in the list, within a deadline. */
  async runAll(timeoutMs = 10_000, log: (line: string) => void = () => {}): Promise<void> {
    const tasks = [...this.tasks.values()].reverse();
    this.tasks.clear();
    if (tasks.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        log(`cleanup: gave up after ${timeoutMs} ms`);
        resolve();
      }, timeoutMs);
    });
    const all = Promise.all(
      tasks.map(async (t) => {
        try {
          await t.fn();
        } catch (err) {
          log(`cleanup: ${t.label}: ${(err as Error).message}`);
        }
      }),
    ).then(() => undefined);
    await Promise.race([all, deadline]);
    clearTimeout(timer);
  }
}
