#!/usr/bin/env node
// The exec stream alone (no Mix, no job): the runner's path for remote and VM
// engines, `runExec` (src/engine/exec.ts) into a `BuildLog` sink with its
// headline scanner, against its floor, the engine's own exec through the
// docker CLI with its output redirected to a file by the shell:
//   docker exec CONTAINER sh -c GENERATOR > file
// Both run the OUTPUT_MB generator of examples/platform/mk/system.mk (make-like
// lines, a ">>>" headline every 10,000 lines) in one running container of the
// example image, into files in the same temp dir; A/B interleaved runs.
// Checks that both files are byte-equal and that every headline was found.
// Each run starts after a sync and a quiet machine (quiesce in lib/common.mjs).
// Also a CPU account of each run (bench/lib/cpu-account.mjs): the whole
// machine's busy CPU, dockerd's, the container's (generator and shim) and
// this process's; on 2 busy cores the wall time follows their sum.
// A profiling aid: `--only ours` runs only our side, e.g. under
// `node --cpu-prof bench/exec-stream.mjs --only ours --runs 1`.
//
//   node bench/exec-stream.mjs [--mb N] [--runs N] [--only ours|floor]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { DOCKER, ROOT, TAG, argOf, f1, f2, log, machineLine, procStatus, quiesce, sha256File, stats, table } from './lib/common.mjs';
import { cpuAccount } from './lib/cpu-account.mjs';
import { floorExec, generatorCmd } from './lib/generator.mjs';

const MB = Number(argOf('mb', 1024));
const RUNS = Number(argOf('runs', 3));
const ONLY = argOf('only', '');

/** Ours: runExec into a BuildLog sink, in this process (the sidecar's code from dist/). */
export async function oursExec(container, mb, path, BuildLog, runExec) {
  let headlines = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const buildLog = await BuildLog.create(path, () => headlines++);
  const sink = buildLog.sink();
  const status = await runExec(container, { cmd: generatorCmd(mb) }, sink);
  await new Promise((res, rej) => {
    sink.once('error', rej);
    sink.end(res);
  });
  await buildLog.close();
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  if (status !== 0) throw new Error(`the generator exited ${status}`);
  return { seconds, headlines, cpu: (c.user + c.system) / 1e6, user: c.user / 1e6, sys: c.system / 1e6 };
}

export async function main() {
  const { openEngine } = await import(join(ROOT, 'dist/engine/connect.js'));
  const { runExec } = await import(join(ROOT, 'dist/engine/exec.js'));
  const { BuildLog } = await import(join(ROOT, 'dist/runner/output/build-log.js'));
  const engine = openEngine();
  const dir = mkdtempSync(join(tmpdir(), 'ndt-bench-exec-'));
  const id = (
    await execa(
      DOCKER,
      [
        'run',
        '-d',
        '-i',
        '--rm',
        '--label',
        'io.github.nerves-docker-ts.bench=exec-stream',
        TAG,
        'sh',
        '-c',
        'while read -r _; do :; done',
      ],
      { stdin: 'ignore' },
    )
  ).stdout.trim();
  const container = engine.docker.getContainer(id);
  const R = { floor: [], ours: [], headlines: new Set(), sha: new Set(), account: { floor: [], ours: [] } };
  try {
    log(`exec-stream: ${MB} MiB, ${RUNS} interleaved runs`);
    for (let i = 0; i < RUNS; i++) {
      if (ONLY !== 'ours') {
        const p = join(dir, 'floor.log');
        await quiesce();
        const spent = cpuAccount(id);
        R.floor.push(await floorExec(id, MB, p));
        R.account.floor.push(spent());
        if (i === 0) R.sha.add(await sha256File(p));
        rmSync(p);
      }
      if (ONLY !== 'floor') {
        const p = join(dir, 'ours.log');
        await quiesce();
        const spent = cpuAccount(id);
        const o = await oursExec(container, MB, p, BuildLog, runExec);
        R.account.ours.push({ ...spent(), reader: o.cpu });
        R.ours.push(o.seconds);
        (R.cpu ??= []).push(o);
        R.headlines.add(o.headlines);
        R.bytes = statSync(p).size;
        if (i === 0) R.sha.add(await sha256File(p));
        rmSync(p);
      }
      log(`run ${i + 1}: floor ${f2(R.floor.at(-1))} s, ours ${f2(R.ours.at(-1))} s`);
    }
  } finally {
    await execa(DOCKER, ['rm', '-f', id], { reject: false });
    rmSync(dir, { recursive: true, force: true });
  }
  const bytes = R.bytes ?? MB * 1048576;
  const f = stats(R.floor);
  const o = stats(R.ours);
  const row = (name, s) => [name, f2(s.median), f2(s.min), f2(s.max), f1(bytes / 1e6 / s.median)];
  const rows = [['method', 'median s', 'min', 'max', 'MB/s']];
  if (R.ours.length) rows.push(row('ours: runExec -> BuildLog sink (headline scan, writev)', o));
  if (R.floor.length) rows.push(row('floor: docker exec C sh -c GEN > file (docker CLI)', f));
  const out = [`exec stream: ${MB} MiB of make-like lines, ${RUNS} runs interleaved; MB = 10^6 bytes`, table(rows)];
  if (R.ours.length && R.floor.length)
    out.push(
      `ratio ours/floor throughput: ${f2(f.median / o.median)}x (target >= 0.95x); logs byte-equal: ${R.sha.size === 1 ? 'yes' : 'NO'}`,
    );
  if (R.ours.length)
    out.push(`headlines found per run: ${[...R.headlines].join(', ')}; this process VmHWM ${f1(procStatus(process.pid).hwmKb / 1024)} MiB`);
  if (R.cpu)
    out.push(
      `ours CPU per run (this process, all threads: user+sys s): ${R.cpu.map((c) => `${f2(c.cpu)} (${f2(c.user)}+${f2(c.sys)})`).join(', ')}`,
    );
  const sec = (x) => (x === null || x === undefined ? 'n/a' : f2(x));
  for (const side of ['floor', 'ours'])
    if (R.account[side].length)
      out.push(
        `CPU s per run, ${side} (machine busy / dockerd / container${side === 'ours' ? ' / this process' : ''}): ${R.account[side]
          .map((a) => `${sec(a.machine)}/${sec(a.dockerd)}/${sec(a.container)}${side === 'ours' ? `/${sec(a.reader)}` : ''}`)
          .join(', ')}`,
      );
  out.push(machineLine());
  console.log(out.join('\n'));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
