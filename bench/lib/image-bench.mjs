// Helpers of the image benches: the toolkit worker in a fresh Node process,
// CLI commands timed with their peak RSS (GNU time's %M, i.e. the maxrss of
// the command itself), and removal of the images a bench made.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, DOCKER, dockerQuiet } from './common.mjs';

const WORKER = join(ROOT, 'bench/lib/image-worker.mjs');

/** Spawns a command and collects its stdout and stderr's tail; resolves with its exit code and wall seconds (spawn to exit). */
function run(cmd, args, opts) {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err = (err + c).slice(-8000)));
    child.on('error', rej);
    child.on('exit', (code) => res({ code, out, err, wall: (performance.now() - t0) / 1000 }));
  });
}

/** Runs one image-worker job; returns its BENCH_JSON plus `wall` (spawn to exit, seconds). */
export async function runWorker(job, { cwd } = {}) {
  const { code, out, err, wall } = await run(process.execPath, [WORKER, JSON.stringify(job)], { cwd: cwd ?? ROOT });
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (code !== 0 || !line) throw new Error(`image worker ${job.op} exited ${code}: ${err}`);
  return { ...JSON.parse(line.slice('BENCH_JSON '.length)), wall };
}

/**
 * Runs a shell command line (bash -c) in which the measured command is
 * prefixed by "$TIME" (GNU time writing its maxrss in kB to a file). Returns
 * { wall, maxRssKb, stdout }.
 */
export async function timedShell(script, args, { env = {} } = {}) {
  const rssFile = join('/tmp', `ndt-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  let r;
  let maxRssKb = NaN;
  try {
    r = await run('bash', ['-c', script, 'bench', ...args], {
      env: { ...process.env, ...env, TIME_CMD: `/usr/bin/time -f %M -o ${rssFile}` },
    });
    try {
      maxRssKb = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
    } catch {}
  } finally {
    rmSync(rssFile, { force: true });
  }
  if (r.code !== 0) throw new Error(`${script} ${args.join(' ')} exited ${r.code}: ${r.err}`);
  return { wall: r.wall, maxRssKb, stdout: r.out.trim() };
}

/** The image and its parent chain (docker build's intermediate images), for checking they are gone. */
export async function imageChain(ref) {
  const ids = [];
  let cur = ref;
  while (cur) {
    const r = await dockerQuiet(['image', 'inspect', '--format', '{{.Id}} {{.Parent}}', cur]);
    if (r.exitCode !== 0) break;
    const [id, parent] = r.stdout.trim().split(' ');
    ids.push(id);
    cur = parent && parent !== '<no value>' ? parent : '';
  }
  return ids;
}

/** Removes an image (by reference or ID) and returns the IDs of its chain that are still there. */
export async function removeImage(ref) {
  const chain = await imageChain(ref);
  await dockerQuiet(['image', 'rm', '-f', ref]);
  const left = [];
  for (const id of chain) if ((await dockerQuiet(['image', 'inspect', id])).exitCode === 0) left.push(id);
  return left;
}

export { DOCKER };

/** Images whose references start with a prefix (what a bench may have left). */
export async function imagesNamed(prefix) {
  const r = await dockerQuiet(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}']);
  return r.stdout.split('\n').filter((l) => l.startsWith(prefix));
}

export const mb = (bytes) => (bytes / 1e6).toFixed(1);
export const mbKb = (kb) => (kb / 1024).toFixed(1);
