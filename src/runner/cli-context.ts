// An OpContext for the command line: events to stderr as lines (or every
// event as one JSON line on stdout with --json), prompts on the terminal,
// Ctrl-C as cancellation.
import { createInterface } from 'node:readline/promises';
import { CleanupRegistry } from '../sidecar/cleanup.js';
import type { OpContext } from '../sidecar/context.js';
import { OpError } from '../sidecar/context.js';

export interface CliContextOptions {
  json: boolean;
  yes: boolean;
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return value;
}

export function jsonLine(value: unknown): string {
  return JSON.stringify(value, jsonSafe) + '\n';
}

export function cliContext(opts: CliContextOptions): OpContext & { controller: AbortController; dispose(): void } {
  const controller = new AbortController();
  const tty = process.stderr.isTTY === true;
  let statusShown = false;
  const clear = () => {
    if (statusShown) process.stderr.write('\r\x1b[K');
    statusShown = false;
  };
  const onSigint = () => controller.abort(new OpError('interrupted', 'interrupted (SIGINT)'));
  process.on('SIGINT', onSigint);
  return {
    id: 0,
    signal: controller.signal,
    cleanup: new CleanupRegistry(),
    controller,
    dispose: () => process.off('SIGINT', onSigint),
    debug: (line) => {
      if (process.env.NERVES_DEBUG === '1') process.stderr.write(`${line}\n`);
    },
    emit: (event, data) => {
      if (opts.json) {
        process.stdout.write(jsonLine({ event, data }));
        return;
      }
      switch (event) {
        case 'header':
          clear();
          process.stderr.write(tty ? `\x1b[7m|nerves-docker| ${String(data)}\x1b[0m\n` : `|nerves-docker| ${String(data)}\n`);
          break;
        case 'headline':
        case 'info':
          clear();
          process.stderr.write(`${String(data)}\n`);
          break;
        case 'warn':
          clear();
          process.stderr.write(`warning: ${String(data)}\n`);
          break;
        case 'status':
        case 'progress': {
          if (!tty) break;
          const text = typeof data === 'string' ? data : String((data as { text?: unknown })?.text ?? '');
          process.stderr.write(`\r\x1b[K${text.slice(0, (process.stderr.columns ?? 80) - 1)}`);
          statusShown = true;
          break;
        }
        case 'dot':
          process.stderr.write('.');
          break;
        default:
          break;
      }
    },
    prompt: async (message) => {
      if (opts.yes) return true;
      if (!process.stdin.isTTY) {
        process.stderr.write(`${message}\nno terminal to answer on: pass --yes to answer yes\n`);
        return false;
      }
      clear();
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        const answer = await rl.question(message + '[Yn] ');
        return /^\s*(y|yes|)\s*$/i.test(answer);
      } finally {
        rl.close();
      }
    },
  };
}
