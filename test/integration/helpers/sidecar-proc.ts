// The shipped sidecar as a child process, driven as the Mix plugin drives it:
// msgpack frames on its stdin and stdout, each decoded frame kept in order,
// and a wait for the first frame that matches.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { decodeMessage } from '../../../src/protocol/codec.js';
import { FrameDecoder } from '../../../src/protocol/frame.js';
import { ROOT } from './example.js';

export interface SidecarProc {
  child: ChildProcessWithoutNullStreams;
  frames: unknown[];
  stderr: () => string;
  exit: Promise<number | null>;
  waitFor(pred: (m: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
}

/** Starts `node ARGV` (priv/sidecar.mjs by default); `wrap`: argv to start it under (nsenter into a namespace). */
export function startSidecar(
  argv = [join(ROOT, 'priv/sidecar.mjs')],
  opts: { env?: NodeJS.ProcessEnv; wrap?: string[] } = {},
): SidecarProc {
  const full = [...(opts.wrap ?? []), 'node', ...argv];
  const child = spawn(full[0]!, full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
  const frames: unknown[] = [];
  const dec = new FrameDecoder();
  let err = '';
  const waiters: Array<() => void> = [];
  child.stdout.on('data', (c: Buffer) => {
    for (const body of dec.push(c)) frames.push(decodeMessage(body));
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdin.on('error', () => {});
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child,
    frames,
    stderr: () => err,
    exit,
    waitFor: (pred, ms = 10_000) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timeout after ${ms} ms; stderr: ${err}`)), ms);
        const check = () => {
          const hit = frames.find((f) => pred(f as Record<string, unknown>));
          if (hit) {
            clearTimeout(t);
            resolve(hit as Record<string, unknown>);
          } else waiters.push(check);
        };
        check();
      }),
  };
}
