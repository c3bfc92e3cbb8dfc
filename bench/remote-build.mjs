#!/usr/bin/env node
// Builds on engines that cannot see this machine's files (inputs copied into
// volumes, the artifact brought back through the Engine API), side by side
// with their baselines in one run:
//   (a) a no-change rebuild of the example system in copy mode against the
//       same in bind mode, through one sidecar (N interleaved runs after a
//       warm-up), over the unix socket and over ssh://builder; target: copy
//       <= 1.5x bind;
//   (b) the download of one ~300 MB file out of a (stopped) container through
//       our archive route (copyArtifactOut of dist/, with its sha256 check)
//       against `docker cp CONTAINER:PATH DEST`, over the unix socket and
//       over ssh://builder; target: ours >= 0.9x docker cp's speed;
//   (c) the sidecar's peak RSS (VmHWM) during a first copy build of the
//       example as it is against the same with a big synthetic tree in its
//       platform (thousands of small files, a few big ones); target: flat.
// ssh://builder is an sshd of the bench's own on 127.0.0.1 (lib/sshd.mjs);
// without root or openssh-server the ssh rows are skipped, and it says so.
//
//   node bench/remote-build.mjs [--runs N] [--download-mb M] [--tree-mb T]
//   (or BENCH_RUNS, BENCH_DOWNLOAD_MB, BENCH_TREE_MB; defaults 5, 300, 300)
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import {
  ROOT,
  TAG,
  DOCKER,
  argOf,
  dockerQuiet,
  f1,
  f2,
  log,
  machineLine,
  makeWorkspace,
  procStatus,
  sha256File,
  SidecarClient,
  stats,
  table,
} from './lib/common.mjs';
import { sshdMissing, startSshd } from './lib/sshd.mjs';

const N = Number(argOf('runs', process.env.BENCH_RUNS || 5));
const DOWNLOAD_MB = Number(argOf('download-mb', process.env.BENCH_DOWNLOAD_MB || 300));
const TREE_MB = Number(argOf('tree-mb', process.env.BENCH_TREE_MB || 300));
const MB = 1e6;
const MiB = 1 << 20;
const BENCH_LABEL = 'io.github.nerves-docker-ts.bench=remote-build';
const dist = (p) => import(join(ROOT, 'dist', p));

/** The environment of a process that reaches the engine over ssh://builder. */
const sshEnv = (sshd) => ({ DOCKER_HOST: 'ssh://builder', PATH: `${sshd.bin}:${process.env.PATH}`, SSH_AUTH_SOCK: '' });

/** The "sent N files (X)" line of a copy build's events. */
function sentOf(infos) {
  return infos.find((t) => /^sent \d+ files/.test(t)) ?? '(no "sent" line)';
}

async function timedBuild(sc, ws, inputs) {
  const infos = [];
  const t0 = performance.now();
  const r = await sc.request('build', ws.spec({ inputs }), (event, data) => event === 'info' && infos.push(String(data)));
  const seconds = (performance.now() - t0) / 1000;
  if (r.inputs !== inputs) throw new Error(`asked for ${inputs}, the build used ${r.inputs}`);
  return { seconds, sent: sentOf(infos), steps: r.steps.map((st) => [st.name, Number(st.seconds)]) };
}

// ---------------------------------------------------------------- (a) no-change rebuilds

async function rebuilds(sshd, cleanup) {
  const routes = [{ name: 'unix socket', env: {} }];
  if (sshd) routes.push({ name: 'ssh://builder', env: { ...sshEnv(sshd), NERVES_DOCKER_TS_REMOTE_OK: '1' } });
  const rows = [['method (build op, sidecar kept)', 'median', 'min', 'max', 'x bind']];
  const verdicts = [];
  const notes = [];
  for (const route of routes) {
    const sc = await SidecarClient.start({ env: route.env });
    try {
      const ws = { copy: makeWorkspace('ndt-bench-rcopy-'), bind: makeWorkspace('ndt-bench-rbind-') };
      cleanup.push(
        () => removeWorkspace(ws.copy),
        () => removeWorkspace(ws.bind),
      );
      const first = await timedBuild(sc, ws.copy, 'copy');
      await timedBuild(sc, ws.bind, 'bind');
      notes.push(`${route.name}: first copy build ${f2(first.seconds)} s (${first.sent})`);
      const t = { copy: [], bind: [] };
      const steps = { copy: new Map(), bind: new Map() };
      let sent = '';
      for (let i = 0; i < N; i++) {
        for (const mode of ['bind', 'copy']) {
          const r = await timedBuild(sc, ws[mode], mode);
          t[mode].push(r.seconds);
          for (const [name, s] of r.steps) steps[mode].set(name, [...(steps[mode].get(name) ?? []), s]);
          if (mode === 'copy') sent = r.sent;
        }
      }
      const b = stats(t.bind);
      const c = stats(t.copy);
      const ratio = c.median / b.median;
      rows.push([`bind, no-change rebuild (${route.name})`, f2(b.median), f2(b.min), f2(b.max), '1.00']);
      rows.push([`copy, no-change rebuild (${route.name})`, f2(c.median), f2(c.min), f2(c.max), f2(ratio)]);
      notes.push(`${route.name}: a no-change copy rebuild: ${sent}`);
      for (const mode of ['bind', 'copy']) {
        const each = [...steps[mode]].map(([name, xs]) => `${name} ${f2(stats(xs).median)}`);
        const sum = [...steps[mode].values()].reduce((a, xs) => a + stats(xs).median, 0);
        notes.push(`${route.name}: ${mode} steps (median s): ${each.join(', ')}; the rest of the op ${f2(stats(t[mode]).median - sum)}`);
      }
      verdicts.push(`${route.name} ${f2(ratio)}x ${ratio <= 1.5 ? 'met' : 'MISSED'}`);
    } finally {
      await sc.stop();
    }
  }
  return [
    `(a) no-change rebuild of the example, copy against bind (${N} runs each, interleaved; seconds)`,
    table(rows),
    ...notes,
    `target copy <= 1.5x bind: ${verdicts.join('; ')}`,
  ].join('\n');
}

async function removeWorkspace(ws) {
  const v = ws.ourVolume();
  await ws.remove();
  if (v) for (const name of [`${v}-platform`, `${v}-package`]) await dockerQuiet(['volume', 'rm', '-f', name]);
}

// ---------------------------------------------------------------- (b) artifact download

/**
 * A stopped container holding /tmp/big.bin (random bytes) and its sha256
 * beside it, as make system's step leaves them (the example image has no
 * sha256sum: the digest is computed here from a first copy and put back).
 */
async function bigFileContainer(dir) {
  const script = `head -c ${DOWNLOAD_MB * MiB} </dev/urandom >/tmp/big.bin`;
  const r = await execa(DOCKER, ['run', '-d', '--user', '0', '--label', BENCH_LABEL, '--entrypoint', '/bin/sh', TAG, '-c', script], {
    stdin: 'ignore',
  });
  const id = r.stdout.trim();
  const wait = await execa(DOCKER, ['wait', id], { stdin: 'ignore' });
  if (wait.stdout.trim() !== '0')
    throw new Error(`the container that writes the big file failed: ${(await dockerQuiet(['logs', id])).stderr}`);
  const first = join(dir, 'first.bin');
  await execa(DOCKER, ['cp', `${id}:/tmp/big.bin`, first], { stdin: 'ignore' });
  writeFileSync(join(dir, 'big.bin.sha256'), `${await sha256File(first)}  /tmp/big.bin\n`);
  rmSync(first);
  await execa(DOCKER, ['cp', join(dir, 'big.bin.sha256'), `${id}:/tmp/big.bin.sha256`], { stdin: 'ignore' });
  return id;
}

async function downloads(sshd, cleanup) {
  const { openEngine } = await dist('engine/connect.js');
  const { closeSshTransports } = await dist('engine/ssh/transport.js');
  const { copyArtifactOut } = await dist('runner/job/artifact/archive.js');
  const dir = mkdtempSync(join(tmpdir(), 'ndt-bench-dl-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const id = await bigFileContainer(dir);
  cleanup.push(() => dockerQuiet(['rm', '-f', id]));
  const size = DOWNLOAD_MB * MiB;
  const routes = [{ name: 'unix socket', env: { ...process.env, DOCKER_HOST: 'unix:///var/run/docker.sock' } }];
  if (sshd) routes.push({ name: 'ssh://builder', env: { ...process.env, ...sshEnv(sshd) } });
  const methods = {
    ours: async (env, dest) => {
      closeSshTransports(); // a fresh ssh connection, as docker cp opens one
      const engine = openEngine(env);
      const n = await copyArtifactOut(engine.docker.getContainer(id), '/tmp/big.bin', dest, { verify: true });
      closeSshTransports();
      return n;
    },
    'docker cp': async (env, dest) => {
      await execa(DOCKER, ['cp', `${id}:/tmp/big.bin`, dest], { env, stdin: 'ignore' });
      return statSync(dest).size;
    },
  };
  const rows = [['method', 'route', 'median s', 'min s', 'MB/s (median)', 'x docker cp']];
  const verdicts = [];
  for (const route of routes) {
    const t = { ours: [], 'docker cp': [] };
    for (let i = 0; i < N + 1; i++) {
      for (const [name, fn] of Object.entries(methods)) {
        const dest = join(dir, `${name.replace(' ', '-')}.bin`);
        const t0 = performance.now();
        const n = await fn(route.env, dest);
        const s = (performance.now() - t0) / 1000;
        rmSync(dest, { force: true });
        if (n !== size) throw new Error(`${name} over ${route.name}: got ${n} bytes, expected ${size}`);
        if (i > 0) t[name].push(s); // the first round warms the page cache and the CLI
      }
    }
    const cp = stats(t['docker cp']);
    const ours = stats(t.ours);
    const speed = cp.median / ours.median;
    rows.push(['docker cp CONTAINER:PATH DEST', route.name, f2(cp.median), f2(cp.min), f1(size / MB / cp.median), '1.00']);
    rows.push([
      'ours: copyArtifactOut (sha256 checked)',
      route.name,
      f2(ours.median),
      f2(ours.min),
      f1(size / MB / ours.median),
      f2(speed),
    ]);
    verdicts.push(`${route.name} ${f2(speed)}x ${speed >= 0.9 ? 'met' : 'MISSED'}`);
  }
  return [
    `(b) one ${f1(size / MB)} MB file out of a stopped container (${N} runs each after one warm-up round, interleaved)`,
    table(rows),
    `target ours >= 0.9x docker cp's speed: ${verdicts.join('; ')}`,
  ].join('\n');
}

// ---------------------------------------------------------------- (c) memory during a copy build of a big tree

/** Thousands of small files (a quarter of the bytes) and a few big ones (the rest), random bytes. */
function writeBigTree(dir, totalMb) {
  const small = 16 * 1024;
  const smallCount = Math.round((totalMb * MB) / 4 / small);
  for (let i = 0; i < smallCount; i++) {
    const sub = join(dir, `pkg${String(i % 100).padStart(3, '0')}`);
    if (i < 100) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `file${i}.c`), randomBytes(small));
  }
  const big = Math.round((totalMb * MB * 3) / 4 / 5);
  for (let i = 0; i < 5; i++) {
    const chunk = randomBytes(8 * MiB);
    const f = join(dir, `big${i}.tar`);
    writeFileSync(f, '');
    for (let left = big; left > 0; left -= chunk.length)
      writeFileSync(f, left >= chunk.length ? chunk : chunk.subarray(0, left), { flag: 'a' });
  }
  return smallCount + 5;
}

async function memory(cleanup) {
  const rows = [['first copy build of', 'files sent', 'seconds', 'sidecar VmHWM MB']];
  const hwm = [];
  for (const mb of [0, TREE_MB / 2, TREE_MB]) {
    const ws = makeWorkspace(mb ? 'ndt-bench-rbig-' : 'ndt-bench-rsmall-');
    cleanup.push(() => removeWorkspace(ws));
    const files = mb ? writeBigTree(join(ws.platform, 'support/bench-tree'), mb) : 0;
    const sc = await SidecarClient.start();
    try {
      const r = await timedBuild(sc, ws, 'copy');
      const peak = (procStatus(sc.pid).hwmKb * 1024) / MB;
      hwm.push(peak);
      rows.push([mb ? `the example + a ${mb} MB tree (${files} files)` : 'the example as it is', r.sent, f2(r.seconds), f1(peak)]);
    } finally {
      await sc.stop();
    }
  }
  // Flat: doubling the tree adds (almost) nothing; what a first sync of any big tree adds once over a tiny one is shown beside.
  const grew = hwm[2] - hwm[1];
  return [
    `(c) the sidecar's peak RSS during a first copy build (a fresh sidecar each)`,
    table(rows),
    `target memory flat: ${grew <= 10 ? 'met' : 'MISSED'} (+${f1(grew)} MB from ${TREE_MB / 2} MB to ${TREE_MB} MB of tree; +${f1(hwm[1] - hwm[0])} MB from the example alone to ${TREE_MB / 2} MB)`,
  ].join('\n');
}

// ---------------------------------------------------------------- main

export async function main() {
  if (!(N >= 1)) throw new Error('--runs must be >= 1');
  const cleanup = [];
  const missing = sshdMissing();
  const sshd = missing ? null : await startSshd();
  const out = [];
  if (missing) out.push(`ssh rows skipped: ${missing}`);
  try {
    const parts = [
      ['rebuilds', () => rebuilds(sshd, cleanup)],
      ['downloads', () => downloads(sshd, cleanup)],
      ['memory', () => memory(cleanup)],
    ];
    const only = argOf('parts', 'rebuilds,downloads,memory').split(',');
    for (const [name, part] of parts.filter(([n]) => only.includes(n))) {
      log(`remote-build: ${name}`);
      const text = await part();
      console.log(`${text}\n`);
      out.push(text);
    }
  } finally {
    for (const fn of cleanup.reverse()) await Promise.resolve(fn()).catch((err) => log(`cleanup: ${err.message}`));
    await sshd?.stop();
  }
  const left = await execa(DOCKER, ['ps', '-aq', '--filter', `label=${BENCH_LABEL}`], { stdin: 'ignore' });
  out.push(
    `left on the engine: ${left.stdout.trim() ? `containers ${left.stdout.trim().split('\n').join(' ')}` : 'nothing of this bench'}`,
  );
  out.push(machineLine());
  const text = out.join('\n');
  console.log(out.slice(-2).join('\n'));
  return { text };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
