// Processes that cannot read what their permissions refuse, although the
// tests run as root: spawned through setpriv without CAP_DAC_OVERRIDE and
// CAP_DAC_READ_SEARCH (a `chmod 000` file is then unreadable to them, as to
// any user; the engine's socket stays reachable). In-process tests cannot
// drop those capabilities: what needs it runs as a child.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { decodeMessage, encodeMessage } from '../../../src/protocol/codec.js';
import { encodeFrame, FrameDecoder } from '../../../src/protocol/frame.js';
import { ROOT } from './example.js';

const DROP = '-dac_override,-dac_read_search';

/** argv run by setpriv without the two capabilities that let root read everything. */
export function withoutDac(argv: string[]): string[] {
  return ['setpriv', `--bounding-set=${DROP}`, `--inh-caps=${DROP}`, '--', ...argv];
}

/** Runs argv without them; its exit status and output. */
export function runWithoutDac(
  argv: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): { status: number | null; stdout: string; stderr: string } {
  const [cmd, ...args] = withoutDac(argv);
  const r = spawnSync(cmd!, args, { encoding: 'utf8', cwd: opts.cwd, env: opts.env ?? process.env, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Throws unless a child without them really cannot read a chmod 000 file (else every test here would pass for nothing). */
export function checkDacDropped(file: string): void {
  const r = runWithoutDac(['node', '-e', 'require("fs").readFileSync(process.argv[1])', file]);
  if (r.status === 0) throw new Error(`a process without CAP_DAC_OVERRIDE still read ${file}: cannot test unreadable inputs here`);
  if (!r.stderr.includes('EACCES')) throw new Error(`reading ${file} without CAP_DAC_OVERRIDE failed otherwise: ${r.stderr}`);
}

export interface Reply {
  ok?: unknown;
  error?: { code: string; message: string; hint: string | null };
}

/** One request to the shipped sidecar (priv/sidecar.mjs) run without them; its reply, and the events before it. */
export async function sidecarRequest(
  op: string,
  args: unknown,
  ms = 120_000,
): Promise<{ reply: Reply; events: Array<Record<string, unknown>> }> {
  const [cmd, ...argv] = withoutDac(['node', join(ROOT, 'priv/sidecar.mjs')]);
  const child: ChildProcessWithoutNullStreams = spawn(cmd!, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  const dec = new FrameDecoder();
  const events: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    const reply = await new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply in ${ms} ms; stderr: ${stderr}`)), ms);
      child.once('exit', (code) => reject(new Error(`the sidecar exited (${code}) before its reply; stderr: ${stderr}`)));
      child.stdout.on('data', (c: Buffer) => {
        for (const body of dec.push(c)) {
          const m = decodeMessage(body) as Record<string, unknown>;
          if ('hello' in m) child.stdin.write(encodeFrame(encodeMessage({ id: 1, op, args })));
          // A question (build the missing image?) is answered yes, as NERVES_DOCKER_TS_YES=1 does in the plugin.
          else if (m.id === 1 && 'prompt' in m)
            child.stdin.write(encodeFrame(encodeMessage({ id: 1, ref: (m.prompt as { ref: unknown }).ref, answer: true })));
          else if (m.id === 1 && ('ok' in m || 'error' in m)) {
            clearTimeout(timer);
            resolve(m as Reply);
          } else if (m.id === 1) events.push(m);
        }
      });
    });
    return { reply, events };
  } finally {
    child.stdin.end();
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  }
}
