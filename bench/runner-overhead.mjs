#!/usr/bin/env node
// Runner overhead: the example system (its default make: a miniature build
// of about a second) built
//   (a) by replaying upstream's docker CLI sequence (nerves v1.14.1 docker.ex):
//       docker --version; docker volume ls -f name=V -q; docker volume create
//       --name V; docker image ls TAG -q; then per step `id -u`, `id -g` and
//       `docker run --rm -w=WD -a stdout -a stderr --env UID --env GID --env
//       TERM --mount ...x5 IMAGE CMD` for create-build.sh, make, make system
//       and cp to /nerves/dl, output appended to build.log;
//   (b) by this runner through the Mix plugin: the Mix task
//       nerves_docker_ts.build, timed inside the VM (bench/lib/mix_build.exs);
//   (c) by this runner through the sidecar directly (node: spawn
//       priv/sidecar.mjs, the build op, stdin closed), timed from the spawn to
//       the exit and for the op alone;
//   floor: the same four commands run in ONE already-running container with
//       the same mounts, timed inside it (one docker exec of a script that
//       reads the clock around them); also shown: the four commands as four
//       `docker exec`s.
// Every method has its own copy of the example and its own build volume, is
// warmed up once (untimed), then run N times interleaved with the others.
// overhead = median(total) - median(floor); target: ours <= 0.2 x upstream's.
// Also timed in every run, for what no runner of this design can go below:
// Node's own start (`node -e 0`) and one container of the example image
// created and started through the Engine API.
//
//   node bench/runner-overhead.mjs [--runs N]      (or BENCH_RUNS=N; default 5)
import { spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ROOT,
  TAG,
  argOf,
  census,
  dockerQuiet,
  leftLine,
  f2,
  f3,
  floorExecs,
  floorInside,
  log,
  makeWorkspace,
  mixCompile,
  mixEnv,
  mixRunJson,
  SidecarClient,
  startFloorContainer,
  stats,
  table,
  upstreamBuild,
  upstreamVolumeName,
  machineLine,
} from './lib/common.mjs';

const N = Number(argOf('runs', process.env.BENCH_RUNS || 5));
if (!(N >= 1)) throw new Error('--runs must be >= 1');

async function preconditions() {
  if (!existsSync(join(ROOT, 'priv/sidecar.mjs'))) throw new Error('priv/sidecar.mjs is missing: run `npm run build` first');
  const img = await dockerQuiet(['image', 'inspect', TAG]);
  if (img.exitCode !== 0) throw new Error(`the image ${TAG} is missing: run scripts/setup (make-rootfs) first`);
}

async function ourSidecarBuild(ws) {
  const t0 = performance.now();
  const sc = await SidecarClient.start();
  const tHello = performance.now();
  const result = await sc.request('build', ws.spec());
  const tReply = performance.now();
  await sc.stop();
  const tExit = performance.now();
  if (!existsSync(result.path)) throw new Error(`no artifact at ${result.path}`);
  return {
    total: (tExit - t0) / 1000,
    start: (tHello - t0) / 1000,
    op: (tReply - tHello) / 1000,
    stop: (tExit - tReply) / 1000,
    steps: result.steps.map((s) => ({ name: s.name, seconds: Number(s.seconds) })),
  };
}

async function ourMixBuild(ws) {
  const w0 = performance.now();
  const r = await mixRunJson(ws, join(ROOT, 'bench/lib/mix_build.exs'));
  return { task: r.seconds, wall: (performance.now() - w0) / 1000 };
}

/** Node's own start: spawn of `node -e 0` to its exit. */
function nodeStart() {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error('node -e 0 failed');
  return (performance.now() - t0) / 1000;
}

/** One container of the example image created and started through the Engine API (as the runner does), then removed untimed. */
async function containerStart(docker) {
  const t0 = performance.now();
  const c = await docker.createContainer({
    Image: TAG,
    Entrypoint: ['/bin/sh', '-c', 'sleep 30'],
    Cmd: [],
    HostConfig: { AutoRemove: true },
  });
  await c.start();
  const seconds = (performance.now() - t0) / 1000;
  await c.remove({ force: true }).catch(() => {});
  return seconds;
}

async function mixBoot(ws) {
  const w0 = performance.now();
  await execa('mix', ['run', '-e', ':ok'], { cwd: ws.system, env: mixEnv(ws), stdin: 'ignore' });
  return (performance.now() - w0) / 1000;
}

export async function main() {
  await preconditions();
  const before = await census();
  const ws = {
    up: makeWorkspace('ndt-bench-up-'),
    mix: makeWorkspace('ndt-bench-mix-'),
    node: makeWorkspace('ndt-bench-node-'),
    floor: makeWorkspace('ndt-bench-floor-'),
  };
  const volUp = upstreamVolumeName();
  const volFloor = upstreamVolumeName();
  let floorId = null;
  const created = { volumes: [volUp, volFloor], containers: [] };
  const R = {
    up: [],
    mixTask: [],
    mixWall: [],
    mixBoot: [],
    node: [],
    nodeOp: [],
    nodeStart: [],
    floorIn: [],
    floorExec: [],
    floorExecWall: [],
    bareNode: [],
    oneContainer: [],
  };
  const { default: Docker } = await import('dockerode');
  const docker = new Docker();
  let lastNodeSteps = null;
  try {
    log(`runner-overhead: ${N} runs per method (plus one warm-up each)`);
    await mixCompile(ws.mix);
    await dockerQuiet(['volume', 'create', '--name', volFloor]);
    floorId = await startFloorContainer(ws.floor, volFloor);
    created.containers.push(floorId);
    for (let i = 0; i <= N; i++) {
      const warm = i === 0;
      const up = await upstreamBuild(ws.up, volUp, join(ws.up.logDir, 'build.log'));
      const mix = await ourMixBuild(ws.mix);
      const boot = await mixBoot(ws.mix);
      const node = await ourSidecarBuild(ws.node);
      const fin = await floorInside(floorId, ws.floor);
      const fex = await floorExecs(floorId, ws.floor);
      const bare = nodeStart();
      const one = await containerStart(docker);
      log(
        `${warm ? 'warm-up' : `run ${i}/${N}`}: upstream ${f2(up)} s, mix task ${f2(mix.task)} s, sidecar ${f2(node.total)} s (op ${f2(node.op)}), floor ${f3(fin.inside)} s (4 execs ${f2(fex)} s)`,
      );
      if (warm) continue;
      R.up.push(up);
      R.mixTask.push(mix.task);
      R.mixWall.push(mix.wall);
      R.mixBoot.push(boot);
      R.node.push(node.total);
      R.nodeOp.push(node.op);
      R.nodeStart.push(node.start);
      R.floorIn.push(fin.inside);
      R.floorExecWall.push(fin.wall);
      R.floorExec.push(fex);
      R.bareNode.push(bare);
      R.oneContainer.push(one);
      lastNodeSteps = node.steps;
    }
  } finally {
    if (floorId) await dockerQuiet(['rm', '-f', floorId]);
    await dockerQuiet(['volume', 'rm', '-f', volUp]);
    await dockerQuiet(['volume', 'rm', '-f', volFloor]);
    for (const w of Object.values(ws)) {
      created.volumes.push(w.ourVolume());
      await w.remove();
    }
  }
  const left = await leftLine(created, before);

  const S = Object.fromEntries(Object.entries(R).map(([k, v]) => [k, stats(v)]));
  const floor = S.floorIn.median;
  const ov = (k) => S[k].median - floor;
  const row = (label, k, withOv = true) => [
    label,
    f3(S[k].median),
    f3(S[k].min),
    f3(S[k].max),
    withOv ? f3(ov(k)) : '',
    withOv ? f2(ov(k) / ov('up')) : '',
  ];
  const out = [];
  out.push(`runner overhead: example system, default make, medians of ${N} runs (seconds)`);
  out.push(
    table([
      ['method', 'median', 'min', 'max', 'overhead', 'x upstream'],
      row('(a) upstream: docker CLI sequence, 8 CLI calls, 4 containers', 'up'),
      row('(b) ours: Mix task nerves_docker_ts.build (in the VM)', 'mixTask'),
      row('(c) ours: sidecar directly (spawn to exit)', 'node'),
      row('    ours: sidecar build op only (no start/stop)', 'nodeOp'),
      row('floor: the 4 commands timed inside one running container', 'floorIn', false),
      row('      (the same, wall time of its one docker exec)', 'floorExecWall'),
      row('      (the 4 commands as 4 docker execs)', 'floorExec'),
      ['for reference: `mix run -e :ok` (VM boot, not counted)', f3(S.mixBoot.median), f3(S.mixBoot.min), f3(S.mixBoot.max), '', ''],
      ['for reference: `mix run` of (b), wall', f3(S.mixWall.median), f3(S.mixWall.min), f3(S.mixWall.max), '', ''],
      [
        "fixed cost: Node's own start (`node -e 0`, spawn to exit)",
        f3(S.bareNode.median),
        f3(S.bareNode.min),
        f3(S.bareNode.max),
        '',
        f2(S.bareNode.median / ov('up')),
      ],
      [
        'fixed cost: one container created and started (Engine API)',
        f3(S.oneContainer.median),
        f3(S.oneContainer.min),
        f3(S.oneContainer.max),
        '',
        f2(S.oneContainer.median / ov('up')),
      ],
    ]),
  );
  const ratioMix = ov('mixTask') / ov('up');
  const ratioNode = ov('node') / ov('up');
  out.push(
    `ratio of overheads b/a: Mix task ${f2(ratioMix)}, sidecar ${f2(ratioNode)}; target <= 0.20: ${ratioMix <= 0.2 ? 'met' : 'MISSED'} (Mix task), ${ratioNode <= 0.2 ? 'met' : 'MISSED'} (sidecar)`,
  );
  const fixed = S.bareNode.median + S.oneContainer.median;
  out.push(
    `fixed costs of a Node sidecar that builds in one container: ${f3(fixed)} s = ${f2(fixed / ov('up'))} of upstream's overhead; ` +
      `the Mix task adds ${f3(ov('mixTask') - fixed)} s beyond them (Mix side, module loading, preflight requests, container create, reply)`,
  );
  out.push(
    `sidecar start (spawn to hello) median ${f3(S.nodeStart.median)} s; last build's steps: ${lastNodeSteps.map((s) => `${s.name} ${f3(s.seconds)}`).join(', ')}`,
  );
  out.push(left);
  out.push(machineLine());
  const text = out.join('\n');
  console.log(text);
  return { text, S, ratioMix, ratioNode };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
