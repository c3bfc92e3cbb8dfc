// Helpers of the image benches: the toolkit worker in a fresh Node process,
// CLI commands timed with their peak RSS (GNU time's %M, i.e. the maxrss of
// the command itself), and removal of the images a bench made.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, DOCKER, dockerQuiet } from './common.mjs';

const WORKER = join(ROOT, 'bench/lib/image-worker.mjs');

/** Runs one image-worker job; returns its BENCH_JSON plus `wall` (spawn to exit, seconds). */
export function runWorker(job, { cwd } = {}) {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [WORKER, JSON.stringify(job)], { cwd: cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err = (err + c).slice(-8000)));
    child.on('error', rej);
    child.on('exit', (code) => {
      const wall = (performance.now() - t0) / 1000;
      const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
      if (code !== 0 || !line) return rej(new Error(`image worker ${job.op} exited ${code}: ${err}`));
      res({ ...JSON.parse(line.slice('BENCH_JSON '.length)), wall });
    });
  });
}

/**
 * Runs a shell command line (bash -c) in which the measured command is
 * prefixed by "$TIME" (GNU time writing its maxrss in kB to a file). Returns
 * { wall, maxRssKb, stdout }.
 */
export function timedShell(script, args, { env = {} } = {}) {
  const rssFile = join('/tmp', `ndt-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn('bash', ['-c', script, 'bench', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env, TIME_CMD: `/usr/bin/time -f %M -o ${rssFile}` },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err = (err + c).slice(-8000)));
    child.on('error', rej);
    child.on('exit', (code) => {
      const wall = (performance.now() - t0) / 1000;
      let maxRssKb = NaN;
      try {
        maxRssKb = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
      } catch {}
      rmSync(rssFile, { force: true });
      if (code !== 0) return rej(new Error(`${script} ${args.join(' ')} exited ${code}: ${err}`));
      res({ wall, maxRssKb, stdout: out.trim() });
    });
  });
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
