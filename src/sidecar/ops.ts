// The table of ops the sidecar answers. Heavy modules (the engine client) are
// imported on first use so that the sidecar starts fast.
import { PROTOCOL_VERSION } from '../protocol/messages.js';
import { packageVersion } from '../version.js';
import type { OpHandler } from '../protocol/op-context.js';

/** Whether this code runs from the bundle that `npm run build` makes (priv/*.mjs) or from modules (tsc's, or the sources under test). */
const LOADED_FROM = import.meta.url.endsWith('.mjs') ? 'bundle' : 'modules';

export function helloInfo() {
  return { protocol: PROTOCOL_VERSION, version: packageVersion(), node: process.version, pid: process.pid, loaded_from: LOADED_FROM };
}

const builtin: Record<string, OpHandler> = {
  hello: async () => helloInfo(),
  ping: async () => 'pong',
  version: async () => helloInfo(),
  echo: async (args) => args,
  // For tests: waits args.ms milliseconds (or until cancelled), emitting one event first.
  sleep: async (args, ctx) => {
    const ms = Number((args as { ms?: unknown } | null)?.ms ?? 0);
    ctx.emit('info', `sleeping ${ms} ms`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      });
    });
    return ms;
  },
  // For tests: asks a yes/no question and returns the answer.
  ask: async (args, ctx) => ctx.prompt(String((args as { message?: unknown } | null)?.message ?? 'Proceed? ')),
};

const lazy: Record<string, () => Promise<OpHandler>> = {
  build: async () => (await import('../runner/ops.js')).buildOp,
  archive: async () => (await import('../runner/ops.js')).archiveOp,
  clean: async () => (await import('../runner/ops.js')).cleanOp,
  engine_info: async () => (await import('../runner/ops.js')).engineInfoOp,
  shell: async () => (await import('../runner/shell/shell.js')).shellOp,
  doctor: async () => (await import('../runner/ops.js')).doctorOp,
};

export function knownOps(): string[] {
  return [...Object.keys(builtin), ...Object.keys(lazy)].sort();
}

/** Finds the handler of an op, or undefined when there is none. */
export async function resolveOp(name: string): Promise<OpHandler | undefined> {
  if (Object.hasOwn(builtin, name)) return builtin[name];
  if (Object.hasOwn(lazy, name)) return lazy[name]!();
  return undefined;
}
