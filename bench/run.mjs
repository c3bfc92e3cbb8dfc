#!/usr/bin/env node
// Runs every benchmark of bench/ in sequence (never in parallel: the machine
// has 2 cores), each printing its figures beside its baseline, then a summary.
// `make bench` calls this.
//   node bench/run.mjs [--quick] [--only NAME,...]
//   --only: sidecar-start, runner-overhead, log-throughput, soak, headline-scan, image-build, pull, remote-build
// Sizes (env): BENCH_RUNS (runner-overhead runs, default 5), BENCH_OUTPUT_MB
// (default 1024), BENCH_SOAK_BUILDS (default 50). --quick sets 3 runs,
// 10 sidecar starts, 64 MiB and 10 builds unless those are set.
// bench/image-* (the image toolkit's benchmarks) are run separately.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, argOf, hasFlag } from './lib/common.mjs';

const quick = hasFlag('quick');
if (quick) {
  process.env.BENCH_RUNS ||= '3';
  process.env.BENCH_OUTPUT_MB ||= '64';
  process.env.BENCH_SOAK_BUILDS ||= '10';
}
const only = argOf('only', '').split(',').filter(Boolean);
const benches = [
  'sidecar-start',
  'runner-overhead',
  'log-throughput',
  'soak',
  'headline-scan',
  'image-build',
  'pull',
  'remote-build',
].filter((b) => only.length === 0 || only.includes(b));

if (!existsSync(join(ROOT, 'priv/sidecar.mjs'))) {
  console.error('priv/sidecar.mjs is missing: building it (npm run build)');
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
}

const results = [];
for (const name of benches) {
  console.log(`\n=== ${name} ${'='.repeat(Math.max(0, 66 - name.length))}`);
  const t0 = performance.now();
  // sidecar-start runs 20 starts by default whatever BENCH_RUNS says for the builds
  const env = name === 'sidecar-start' ? { ...process.env, BENCH_RUNS: quick ? '10' : '20' } : process.env;
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const mod = await import(`./${name}.mjs`);
    const r = await mod.main();
    results.push({ name, ok: true, seconds: (performance.now() - t0) / 1000, text: r.text });
  } catch (err) {
    console.error(`${name} failed: ${err.stack || err}`);
    results.push({ name, ok: false, seconds: (performance.now() - t0) / 1000 });
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

console.log(`\n=== summary ${'='.repeat(59)}`);
for (const r of results) {
  const verdict = r.ok
    ? r.text
        .split('\n')
        .filter((l) => /target|MISSED|met\b/.test(l))
        .join('\n    ') || 'done'
    : 'FAILED';
  console.log(`${r.name} (${r.seconds.toFixed(0)} s):\n    ${verdict}`);
}
process.exitCode = results.every((r) => r.ok) ? 0 : 1;
