#!/usr/bin/env node
// Log throughput: the example system built with OUTPUT_MB=N (N MiB of
// compiler-like output, a ">>>" headline every 10,000 lines)
//   ours:     through the Mix plugin (bench/lib/mix_build_events.exs: the
//             build runner's spec, a fresh sidecar, the build request, the
//             default output handler), recording every headline event that
//             reached the plugin and the sidecar's VmRSS (sampled) and VmHWM;
//   upstream: `docker run --rm ... -a stdout -a stderr IMAGE make OUTPUT_MB=N`
//             through the docker CLI, its stdout and stderr piped to a file
//             (after create-build.sh in the same way), counting the headlines
//             upstream's chunk rule would show (a chunk that starts with one);
//   floor:    the same make run inside an already-running container with its
//             output redirected to a file (on a bind mount), and to /dev/null.
// Checks: every headline in build.log reached the plugin, in order;
// build.log is byte-exact (its sha256 equals that of a reference log made by
// running create-build.sh, make and make system in a fresh volume with their
// output redirected to a file by the shell).
// MB = 10^6 bytes. Targets: >= 200 MB/s into build.log, sidecar peak RSS < 150 MB.
//
// Exec stream: ours forced onto it (NERVES_DOCKER_TS_STEP_OUTPUT=exec) in A/B
// pairs with its floor, the engine's own `docker exec CONTAINER sh -c
// GENERATOR > file` of the same generator (bench/lib/generator.mjs) through
// the docker CLI; target >= 0.95x of the floor's throughput. Each side of a
// pair starts after a sync and a quiet machine (quiesce, lib/common.mjs), so
// that neither pays for the other's write-back.
//
//   node bench/log-throughput.mjs [--mb N] [--quick] [--exec-runs N] [--exec-only]
//   (BENCH_OUTPUT_MB=N; default 1024; --quick = 64; --exec-runs: A/B pairs, default 2;
//    --exec-only: only the exec pairs, no FIFO run, reference log or upstream)
import { closeSync, createReadStream, createWriteStream, existsSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import {
  DOCKER,
  ROOT,
  TAG,
  WD,
  argOf,
  census,
  dockerQuiet,
  leftLine,
  f1,
  f2,
  hasFlag,
  log,
  makeWorkspace,
  mixCompile,
  mixRunJson,
  runToLog,
  startFloorContainer,
  stats,
  stepCommands,
  table,
  upstreamRunArgs,
  upstreamVolumeName,
  machineLine,
  quiesce,
} from './lib/common.mjs';
import { floorExec } from './lib/generator.mjs';

const MB = Number(argOf('mb', hasFlag('quick') ? 64 : process.env.BENCH_OUTPUT_MB || 1024));
if (!(MB >= 1)) throw new Error('--mb must be >= 1');
const MAKE_ARG = `OUTPUT_MB=${MB}`;
/** Pairs of (ours through the exec stream, its floor), interleaved. */
const EXEC_RUNS = Number(argOf('exec-runs', 2));
/** Only the exec stream and its floor (no FIFO run, no reference, no upstream): for profiling and A/B rounds. */
const EXEC_ONLY = hasFlag('exec-only');
const mbps = (bytes, s) => bytes / 1e6 / s;
const OUTPUT_ENV_NAME = 'NERVES_DOCKER_TS_STEP_OUTPUT';

const PLAIN = Buffer.from('>>>');
const INVERSE = Buffer.from('\x1b[7m>>>');
const startsWith = (buf, at, p) => buf.length - at >= p.length && buf.compare(p, 0, p.length, at, at + p.length) === 0;

/** Upstream's headline text of a line (trimmed; inverse-video lines cut at the next ESC[7m, closed with ESC[0m). */
function headlineText(line) {
  let text = line.toString('utf8');
  if (text.startsWith('\x1b[7m>>>')) {
    const next = text.indexOf('\x1b[7m', 4);
    if (next >= 0) text = text.slice(0, next);
    if (!text.includes('\x1b[0m') && !text.includes('\x1b[27m')) text += '\x1b[0m';
  } else if (!text.startsWith('>>>')) return null;
  text = text.replace(/\r/g, '').trim();
  return text || null;
}

/** One pass over a log: sha256, size, and its headline lines in order (an independent scanner, not the runner's). */
function scanLog(path) {
  return new Promise((res, rej) => {
    const hash = createHash('sha256');
    const headlines = [];
    let bytes = 0;
    let carry = []; // the start (<= 1 KiB) of the line in progress
    let carryLen = 0;
    const endLine = () => {
      const line = carry.length === 1 ? carry[0] : Buffer.concat(carry, carryLen);
      carry = [];
      carryLen = 0;
      if (startsWith(line, 0, PLAIN) || startsWith(line, 0, INVERSE)) {
        const t = headlineText(line);
        if (t !== null) headlines.push(t);
      }
    };
    const keep = (piece) => {
      if (carryLen >= 1024 || piece.length === 0) return;
      const p = piece.subarray(0, 1024 - carryLen);
      carry.push(Buffer.from(p));
      carryLen += p.length;
    };
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (chunk) => {
        hash.update(chunk);
        bytes += chunk.length;
        let start = 0;
        for (;;) {
          const nl = chunk.indexOf(0x0a, start);
          if (nl < 0) {
            keep(chunk.subarray(start));
            break;
          }
          keep(chunk.subarray(start, nl));
          endLine();
          start = nl + 1;
        }
      })
      .on('end', () => {
        if (carryLen > 0) endLine();
        res({ sha256: hash.digest('hex'), bytes, headlines });
      })
      .on('error', rej);
  });
}

/** A docker CLI run with stdout and stderr piped through here into a file; counts chunks that start with a headline (upstream's rule). */
function upstreamPipedRun(args, logPath) {
  return new Promise((res, rej) => {
    const out = createWriteStream(logPath, { flags: 'a' });
    const child = spawn(DOCKER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let shown = 0;
    let bytes = 0;
    const onChunk = (c) => {
      bytes += c.length;
      if (startsWith(c, 0, PLAIN) || startsWith(c, 0, INVERSE)) shown++;
    };
    child.stdout.on('data', onChunk);
    child.stderr.on('data', onChunk);
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('error', rej);
    child.on('close', (code) => out.end(() => res({ code, shown, bytes })));
  });
}

async function exec(id, script, args = []) {
  return execa(DOCKER, ['exec', '-w', WD, id, 'bash', '-c', script, 'bench', ...args], { stdin: 'ignore' });
}

/** Ours through the Mix plugin on the FIFO path (this engine shares the kernel): fills R.ours. */
async function oursFifoRun(ws, R) {
  const headlinesFile = join(ws.dir, 'plugin-headlines.txt');
  const w0 = performance.now();
  const j = await mixRunJson(ws, join(ROOT, 'bench/lib/mix_build_events.exs'), [], {
    BENCH_MAKE_ARGS: MAKE_ARG,
    BENCH_HEADLINES: headlinesFile,
  });
  const wall = (performance.now() - w0) / 1000;
  const make = j.result.steps.find((s) => s.name === 'make');
  const logPath = j.result.log_path;
  log(`ours: make step ${f2(make.seconds)} s, build ${f2(j.seconds)} s, log ${j.result.log_size} bytes; scanning build.log`);
  const scan = await scanLog(logPath);
  const plugin = readFileSync(headlinesFile, 'utf8').split('\n').slice(0, -1);
  let firstDiff = -1;
  for (let i = 0; i < Math.max(plugin.length, scan.headlines.length); i++) {
    if (plugin[i] !== scan.headlines[i]) {
      firstDiff = i;
      break;
    }
  }
  R.ours = {
    make: make.seconds,
    build: j.seconds,
    wall,
    bytes: scan.bytes,
    logSize: j.result.log_size,
    sha: scan.sha256,
    inLog: scan.headlines.length,
    plugin: plugin.length,
    events: j.events,
    firstDiff,
    hwmKb: j.vm_hwm_kb,
    rssMaxKb: j.rss_max_sampled_kb,
    samples: j.rss_samples,
  };
  ws.downloadName = j.download_name;
  if (j.result.output !== 'fifo') throw new Error(`expected the FIFO path on this local engine, the build took ${j.result.output}`);
}

/** Ours through the Mix plugin forced onto the exec stream, in a fresh build volume (the log must equal the same reference: the make counts its builds). */
async function oursExecRun(ws) {
  const v = ws.ourVolume();
  if (v) await dockerQuiet(['volume', 'rm', '-f', v]);
  const hx = join(ws.dir, 'plugin-headlines-exec.txt');
  const jx = await mixRunJson(ws, join(ROOT, 'bench/lib/mix_build_events.exs'), [], {
    BENCH_MAKE_ARGS: MAKE_ARG,
    BENCH_HEADLINES: hx,
    NERVES_DOCKER_TS_STEP_OUTPUT: 'exec',
  });
  ws.downloadName = jx.download_name;
  const mx = jx.result.steps.find((s) => s.name === 'make');
  log(`ours (exec stream): make step ${f2(mx.seconds)} s; scanning build.log`);
  const sx = await scanLog(jx.result.log_path);
  const px = readFileSync(hx, 'utf8').split('\n').slice(0, -1);
  const same = px.length === sx.headlines.length && px.every((h, i) => h === sx.headlines[i]);
  return {
    make: mx.seconds,
    bytes: sx.bytes,
    sha: sx.sha256,
    inLog: sx.headlines.length,
    plugin: px.length,
    same,
    hwmKb: jx.vm_hwm_kb,
    output: jx.result.output,
  };
}

/** The reference log and the make floors in the running container, then upstream's docker run: fills R.ref, R.devnull, R.up. */
async function referenceAndUpstream(ws, floorId, volUp, R) {
  // ---- reference log and floor: an already-running container, fresh volume, output redirected by the shell
  const steps = stepCommands(ws, [MAKE_ARG]).slice(0, 3);
  const argv = [];
  for (const s of steps) argv.push(String(s.length), ...s);
  const refScript =
    'set -e; ref=/nerves/dl/bench-ref.log; : >"$ref"; i=0; ' +
    'while [ $# -gt 0 ]; do n=$1; shift; cmd=("${@:1:$n}"); shift "$n"; i=$((i+1)); ' +
    't0=$(date +%s%N); "${cmd[@]}" >>"$ref" 2>&1; t1=$(date +%s%N); echo "step$i $(( (t1 - t0) / 1000 ))"; done';
  const rr = await exec(floorId, refScript, argv);
  const stepUs = Object.fromEntries(
    rr.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(' ')),
  );
  const refPath = join(ws.dl, 'bench-ref.log');
  const refScan = await scanLog(refPath);
  R.ref = { make: Number(stepUs.step2) / 1e6, bytes: refScan.bytes, sha: refScan.sha256, headlines: refScan.headlines.length };
  // the generator alone: make's output to /dev/null (a second make in the same tree)
  const nullRun = await exec(floorId, 't0=$(date +%s%N); make "$1" >/dev/null 2>&1; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000 ))', [
    MAKE_ARG,
  ]);
  R.devnull = { make: Number(nullRun.stdout.trim()) / 1e6 };
  rmSync(refPath, { force: true });

  // ---- upstream: docker run -a stdout -a stderr through the CLI, piped to a file
  const upLog = join(ws.logDir, 'upstream-build.log');
  await dockerQuiet(['volume', 'create', '--name', volUp]);
  const uid = String(process.getuid?.() ?? 0);
  const gid = String(process.getgid?.() ?? 0);
  const [createBuild, makeCmd] = stepCommands(ws, [MAKE_ARG]);
  const fd = openSync(upLog, 'w');
  const cb = await runToLog(DOCKER, upstreamRunArgs(ws, volUp, uid, gid, createBuild), fd);
  closeSync(fd);
  if (cb !== 0) throw new Error(`upstream create-build.sh exited ${cb}`);
  const cbBytes = statSync(upLog).size;
  log('upstream: docker run make (this is the slow one)');
  const u0 = performance.now();
  const up = await upstreamPipedRun(upstreamRunArgs(ws, volUp, uid, gid, makeCmd), upLog);
  const upSeconds = (performance.now() - u0) / 1000;
  if (up.code !== 0) throw new Error(`upstream make exited ${up.code}`);
  const upScan = await scanLog(upLog);
  R.up = { make: upSeconds, bytes: up.bytes, shown: up.shown, inLog: upScan.headlines.length, total: upScan.bytes - cbBytes };
}

/** The exec stream against its floor (A/B pairs): medians, ratio, checks. */
function execSummary(R) {
  const xs = R.oursExec;
  const fs = R.execFloor;
  const ours = stats(xs.map((x) => x.make)).median;
  const floor = stats(fs.map((x) => x.seconds)).median;
  const bytes = xs[0].bytes;
  const ratio = mbps(bytes, ours) / mbps(fs[0].bytes, floor);
  const inOrder = xs.every((x) => x.same);
  const exact = R.ref ? xs.every((x) => x.sha === R.ref.sha && x.bytes === R.ref.bytes) : new Set(xs.map((x) => x.sha)).size === 1;
  const hwm = (Math.max(...xs.map((x) => x.hwmKb)) * 1024) / 1e6;
  const lines = [
    `exec stream, ${xs.length} A/B pairs (ours through the Mix plugin with ${OUTPUT_ENV_NAME}=exec, make step; floor: docker exec CONTAINER sh -c GENERATOR > file, the same generator):`,
    `  ours ${xs.map((x) => f2(x.make)).join(' ')} s (median ${f2(ours)} s, ${f1(mbps(bytes, ours))} MB/s); floor ${fs.map((x) => f2(x.seconds)).join(' ')} s (median ${f2(floor)} s, ${f1(mbps(fs[0].bytes, floor))} MB/s)`,
    `  ratio of throughputs ours/floor (medians): ${f2(ratio)}x; headlines ${xs.map((x) => `${x.plugin}/${x.inLog}`).join(' ')}, in order: ${inOrder ? 'yes' : 'NO'}; sidecar VmHWM max ${f1(hwm)} MB; output path reported: ${[...new Set(xs.map((x) => x.output))].join(',')}`,
    `  build.log byte-exact through the exec stream: ${exact ? 'yes' : 'NO'}${R.ref ? ' (against the reference log)' : ' (runs equal to each other; no reference log with --exec-only)'}`,
    `exec-stream targets: >= 0.95x of its floor: ${ratio >= 0.95 ? 'met' : 'MISSED'}; RSS < 150 MB: ${hwm < 150 ? 'met' : 'MISSED'}; all headlines in order: ${inOrder ? 'met' : 'MISSED'}; byte-exact: ${exact ? 'met' : 'MISSED'}`,
  ];
  return { lines, ours, bytes };
}

/** The FIFO path, upstream and the make floors. */
function fullReport(R, ex) {
  const o = R.ours;
  const exact = o.sha === R.ref.sha && o.bytes === R.ref.bytes;
  const allHeadlines = o.firstDiff === -1 && o.plugin === o.inLog;
  const rssMb = (o.hwmKb * 1024) / 1e6;
  const x = R.oursExec;
  return [
    `log throughput: OUTPUT_MB=${MB} (${f1(o.bytes / 1e6)} MB in build.log); MB = 10^6 bytes; seconds are the make step's`,
    table([
      ['method', 'seconds', 'MB/s', 'headlines shown / in log', 'peak RSS'],
      [
        'ours: Mix plugin -> sidecar -> FIFO -> build.log',
        f2(o.make),
        f1(mbps(o.bytes, o.make)),
        `${o.plugin} / ${o.inLog}${allHeadlines ? ', in order' : `, FIRST DIFFERENCE at #${o.firstDiff}`}`,
        `${f1(rssMb)} MB (sidecar VmHWM)`,
      ],
      [
        `ours, forced onto the exec stream (median of ${x.length})`,
        f2(ex.ours),
        f1(mbps(ex.bytes, ex.ours)),
        `${x[0].plugin} / ${x[0].inLog}${x.every((r) => r.same) ? ', in order' : ', DIFFERENT'}`,
        `${f1((Math.max(...x.map((r) => r.hwmKb)) * 1024) / 1e6)} MB (sidecar VmHWM)`,
      ],
      [
        'upstream: docker run -a stdout -a stderr | file (CLI)',
        f2(R.up.make),
        f1(mbps(R.up.bytes, R.up.make)),
        `${R.up.shown} / ${R.up.inLog} (chunk rule)`,
        '',
      ],
      ['floor: make in a running container > file (bind mount)', f2(R.ref.make), f1(mbps(R.ref.bytes, R.ref.make)), '', ''],
      ['floor: make in a running container > /dev/null', f2(R.devnull.make), f1(mbps(o.bytes, R.devnull.make)), '', ''],
      [
        `exec floor: docker exec C sh -c GENERATOR > file (median of ${R.execFloor.length})`,
        f2(stats(R.execFloor.map((r) => r.seconds)).median),
        f1(mbps(R.execFloor[0].bytes, stats(R.execFloor.map((r) => r.seconds)).median)),
        '',
        '',
      ],
    ]),
    `ours end to end: build ${f2(o.build)} s (sidecar start to reply), \`mix run\` wall ${f2(o.wall)} s; events reaching the plugin: ${JSON.stringify(o.events)}`,
    `sidecar memory: VmHWM ${o.hwmKb} kB, max sampled VmRSS ${o.rssMaxKb} kB (${o.samples} samples every 50 ms)`,
    `build.log byte-exact: ${exact ? 'yes' : 'NO'} (sha256 ${o.sha.slice(0, 16)}... ${o.bytes} bytes; reference ${R.ref.sha.slice(0, 16)}... ${R.ref.bytes} bytes)`,
    `targets: >= 200 MB/s: ${mbps(o.bytes, o.make) >= 200 ? 'met' : 'MISSED'}; RSS < 150 MB: ${rssMb < 150 ? 'met' : 'MISSED'}; all headlines in order: ${allHeadlines ? 'met' : 'MISSED'}; byte-exact: ${exact ? 'met' : 'MISSED'}`,
  ];
}

export async function main() {
  if (!existsSync(join(ROOT, 'priv/sidecar.mjs'))) throw new Error('priv/sidecar.mjs is missing: run `npm run build` first');
  if ((await dockerQuiet(['image', 'inspect', TAG])).exitCode !== 0)
    throw new Error(`the image ${TAG} is missing: run scripts/setup first`);
  const before = await census();
  const ws = makeWorkspace('ndt-bench-log-');
  const volRef = upstreamVolumeName();
  const volUp = upstreamVolumeName();
  let floorId = null;
  const created = { volumes: [volRef, volUp], containers: [] };
  const R = {};
  try {
    log(`log-throughput: OUTPUT_MB=${MB}`);
    await mixCompile(ws);

    // ---- ours, through the Mix plugin
    if (!EXEC_ONLY) await oursFifoRun(ws, R);
    // ---- ours again, forced onto the exec stream (the path remote engines and VMs take), A/B
    // interleaved with its floor: the engine's own exec of the same generator through the docker CLI into a file.
    await dockerQuiet(['volume', 'create', '--name', volRef]);
    floorId = await startFloorContainer(ws, volRef);
    created.containers.push(floorId);
    R.oursExec = [];
    R.execFloor = [];
    for (let i = 0; i < EXEC_RUNS; i++) {
      await quiesce();
      R.oursExec.push(await oursExecRun(ws));
      const fp = join(ws.logDir, 'exec-floor.log');
      await quiesce();
      R.execFloor.push({ seconds: await floorExec(floorId, MB, fp), bytes: statSync(fp).size });
      rmSync(fp, { force: true });
      log(
        `exec pair ${i + 1}/${EXEC_RUNS}: ours ${f2(R.oursExec.at(-1).make)} s (make step), floor ${f2(R.execFloor.at(-1).seconds)} s (generator alone)`,
      );
    }
    if (!EXEC_ONLY) await referenceAndUpstream(ws, floorId, volUp, R);
  } finally {
    if (floorId) await dockerQuiet(['rm', '-f', floorId]);
    await dockerQuiet(['volume', 'rm', '-f', volRef]);
    await dockerQuiet(['volume', 'rm', '-f', volUp]);
    created.volumes.push(ws.ourVolume());
    await ws.remove();
  }
  const left = await leftLine(created, before);

  const out = [];
  const ex = execSummary(R);
  if (!EXEC_ONLY) out.push(...fullReport(R, ex));
  out.push(...ex.lines);
  out.push(left);
  out.push(machineLine());
  const text = out.join('\n');
  console.log(text);
  return { text, R };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
