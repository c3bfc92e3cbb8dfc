#!/usr/bin/env node
// Soak: N consecutive builds of the example system (default make) through ONE
// sidecar (node priv/sidecar.mjs, spoken to over its protocol, as the plugin
// does). After every build: the containers and volumes on the engine (engine-
// wide, new since the start; and this build's own, by its volume label and
// name), the sidecar's open file descriptors (/proc/PID/fd) and memory
// (VmRSS, VmHWM), the files in the download dir and in the artifact build
// path. Prints each series' first / last / max and a verdict: no containers
// left, no volume but the one build volume, fds and RSS flat.
// Baseline in the same run: the sidecar's fds and RSS right after its hello.
//
//   node bench/soak.mjs [--builds N]     (or BENCH_SOAK_BUILDS=N; default 50)
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import {
  DOCKER,
  ROOT,
  TAG,
  argOf,
  census,
  dockerQuiet,
  leftLine,
  f1,
  f2,
  fdCount,
  log,
  makeWorkspace,
  procStatus,
  SidecarClient,
  table,
  machineLine,
} from './lib/common.mjs';

const N = Number(argOf('builds', process.env.BENCH_SOAK_BUILDS || 50));
if (!(N >= 1)) throw new Error('--builds must be >= 1');

async function ourContainers(volume) {
  if (!volume) return 0;
  const r = await execa(DOCKER, ['ps', '-aq', '--filter', `label=io.github.nerves-docker-ts.volume=${volume}`], { stdin: 'ignore' });
  return r.stdout.split('\n').filter(Boolean).length;
}

function series(label, xs, fmt = String) {
  return [label, fmt(xs[0]), fmt(xs[xs.length - 1]), fmt(Math.max(...xs)), fmt(Math.min(...xs))];
}

export async function main() {
  if (!existsSync(join(ROOT, 'priv/sidecar.mjs'))) throw new Error('priv/sidecar.mjs is missing: run `npm run build` first');
  if ((await dockerQuiet(['image', 'inspect', TAG])).exitCode !== 0)
    throw new Error(`the image ${TAG} is missing: run scripts/setup first`);
  const before = await census();
  const ws = makeWorkspace('ndt-bench-soak-');
  const sc = await SidecarClient.start();
  const pid = sc.pid;
  // let the sidecar settle, then take the baseline
  await new Promise((r) => setTimeout(r, 200));
  const base = { fds: fdCount(pid), ...procStatus(pid) };
  const S = {
    seconds: [],
    goneMs: [],
    newContainers: [],
    newVolumes: [],
    ours: [],
    ourVolumes: [],
    fds: [],
    rssMb: [],
    hwmMb: [],
    dl: [],
    buildPath: [],
  };
  let failures = 0;
  let volume = null;
  try {
    log(`soak: ${N} builds through one sidecar (pid ${pid})`);
    for (let i = 1; i <= N; i++) {
      const t0 = performance.now();
      try {
        await sc.request('build', ws.spec());
      } catch (err) {
        failures++;
        log(`build ${i} failed: ${err.message.split('\n')[0]}`);
      }
      S.seconds.push((performance.now() - t0) / 1000);
      volume ??= ws.ourVolume();
      // The reply does not wait for the container's removal (it is under way): give it 3 s.
      const tGone = performance.now();
      let ours = await ourContainers(volume);
      while (ours > 0 && performance.now() - tGone < 3000) {
        await new Promise((r) => setTimeout(r, 50));
        ours = await ourContainers(volume);
      }
      S.ours.push(ours);
      S.goneMs.push(performance.now() - tGone);
      const now = await census();
      S.newContainers.push(now.containers.filter((c) => !before.containers.includes(c)).length);
      S.newVolumes.push(now.volumes.filter((v) => !before.volumes.includes(v)).length);
      S.ourVolumes.push(now.volumes.filter((v) => v === volume).length);
      S.fds.push(fdCount(pid));
      const st = procStatus(pid);
      S.rssMb.push((st.rssKb * 1024) / 1e6);
      S.hwmMb.push((st.hwmKb * 1024) / 1e6);
      S.dl.push(readdirSync(ws.dl).length);
      S.buildPath.push(existsSync(ws.buildPath) ? readdirSync(ws.buildPath).length : 0);
      if (i === 1 || i % 10 === 0 || i === N) {
        log(
          `build ${i}/${N}: ${f2(S.seconds.at(-1))} s, fds ${S.fds.at(-1)}, RSS ${f1(S.rssMb.at(-1))} MB, our containers ${S.ours.at(-1)}, new volumes ${S.newVolumes.at(-1)}`,
        );
      }
    }
  } finally {
    await sc.stop();
    await ws.remove();
  }
  const left = await leftLine({ volumes: [volume] }, before);

  const out = [];
  out.push(`soak: ${N} consecutive builds through one sidecar; ${failures} failed`);
  out.push(
    table([
      ['series (after each build)', 'first', 'last', 'max', 'min'],
      series('build seconds', S.seconds, f2),
      series("this build's containers (by volume label), after up to 3 s", S.ours),
      series('ms until none was listed (docker ps calls included)', S.goneMs, (x) => String(Math.round(x))),
      series('its build volume present', S.ourVolumes),
      series('engine-wide new containers since start', S.newContainers),
      series('engine-wide new volumes since start', S.newVolumes),
      series('sidecar open fds', S.fds),
      series('sidecar VmRSS MB', S.rssMb, f1),
      series('sidecar VmHWM MB', S.hwmMb, f1),
      series('files in the download dir', S.dl),
      series('files in the artifact build path', S.buildPath),
    ]),
  );
  out.push(`baseline (sidecar after hello, before any build): fds ${base.fds}, VmRSS ${f1((base.rssKb * 1024) / 1e6)} MB`);
  // flat: the last tenth's mean within 10 MB of the second tenth's mean (the first builds warm up V8)
  const tenth = Math.max(1, Math.floor(N / 10));
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const early = mean(S.rssMb.slice(tenth, 2 * tenth).length ? S.rssMb.slice(tenth, 2 * tenth) : S.rssMb.slice(0, 1));
  const late = mean(S.rssMb.slice(-tenth));
  const fdFlat = S.fds.at(-1) <= S.fds[0];
  const verdicts = [
    `containers left: ${Math.max(...S.ours) === 0 ? 'none (met)' : `${Math.max(...S.ours)} (MISSED)`}`,
    `volumes: ${Math.min(...S.ourVolumes) === 1 ? 'the one build volume, reused by every build' : 'build volume MISSING after some build'}${Math.max(...S.newVolumes) <= 1 ? ', no other new volume (met)' : ` (engine-wide ${Math.max(...S.newVolumes)} new: other sessions use this engine too)`}`,
    `fds: ${fdFlat ? 'flat (met)' : `grew ${S.fds[0]} -> ${S.fds.at(-1)} (MISSED)`}`,
    `RSS: mean ${f1(early)} MB (builds ${tenth + 1}-${2 * tenth}) -> ${f1(late)} MB (last ${tenth}) ${late - early <= 10 ? '(flat: met)' : '(grows: MISSED)'}`,
  ];
  out.push(verdicts.join('; '));
  out.push(left);
  out.push(machineLine());
  const text = out.join('\n');
  console.log(text);
  return { text, S };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
