#!/usr/bin/env node
// Pull (issue 8, bench 4): pullImage (src/image/pull.ts) from a local Debian
// `docker-registry` on 127.0.0.1 against `skopeo copy` of the same digest to
// a docker-archive. The image is the Debian minbase rootfs of
// bench/image-build.mjs (same cache, same N groups), built by the toolkit as
// a docker-archive and pushed with skopeo (which gzips the layers, so both
// pullers download, check and uncompress every layer). Each pull is a fresh
// process: a Node worker for pullImage (its VmHWM), skopeo under GNU time.
//
//   node bench/pull.mjs [--runs N] [--layers N] [--rootfs DIR]
//   (BENCH_IMAGE_RUNS, default 3; BENCH_IMAGE_LAYERS, default 15)
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { argOf, f2, intEnv, log, sha256File, stats, table } from './lib/common.mjs';
import { ensureRootfs, planGroups, stageGroups, treeSize } from './lib/rootfs.mjs';
import { mb, mbKb, runWorker, timedShell } from './lib/image-bench.mjs';

const REPO = 'ndt-bench/pull';

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** Debian's docker-registry on 127.0.0.1:<free port>, storage in dir (as test/integration/image/registry-helpers.ts does). */
async function startRegistry(dir) {
  const port = await freePort();
  const config = join(dir, 'registry.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'storage')}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  const exited = new Promise((r) => child.once('exit', r));
  child.once('error', (err) => (stderr += String(err)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const end = Date.now() + 15000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      (r) => r.status < 500,
      () => false,
    );
    if (ok) break;
    if (Date.now() > end || child.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry did not answer on 127.0.0.1:${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { host: `127.0.0.1:${port}`, pid: child.pid, stop };
}

export async function main() {
  const runs = Number(argOf('runs', intEnv('BENCH_IMAGE_RUNS', 3)));
  const nGroups = Number(argOf('layers', intEnv('BENCH_IMAGE_LAYERS', 15)));
  const rootfs = ensureRootfs(argOf('rootfs', process.env.BENCH_ROOTFS || ''));
  const size = treeSize(rootfs);
  const plan = planGroups(rootfs, nGroups);
  const work = mkdtempSync(join(tmpdir(), 'ndt-bench-pull-'));
  let registry;
  try {
    const dirs = stageGroups(rootfs, plan.groups, join(work, 'groups'));
    const archive = join(work, 'source.tar');
    const built = await runWorker({ op: 'build', name: REPO, tag: 'source', contents: dirs, out: archive });
    rmSync(join(work, 'groups'), { recursive: true, force: true });
    registry = await startRegistry(work);
    const digestFile = join(work, 'digest');
    await execa(
      'skopeo',
      [
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        '--digestfile',
        digestFile,
        `docker-archive:${archive}`,
        `docker://${registry.host}/${REPO}:v1`,
      ],
      { stdin: 'ignore' },
    );
    const digest = readFileSync(digestFile, 'utf8').trim();
    rmSync(archive);
    log(`pushed ${built.layers} layers (${mb(size.bytes)} MB rootfs) to ${registry.host}/${REPO}@${digest}`);

    const methods = {
      pullImage: async (i) => {
        const out = join(work, `ours-${i}.tar`);
        const r = await runWorker({
          op: 'pull',
          imageName: `${registry.host}/${REPO}`,
          imageDigest: digest,
          out,
          finalImageName: REPO,
          finalImageTag: 'latest',
        });
        const bytes = statSync(out).size;
        rmSync(out);
        return { ...r, rssKb: r.hwmKb, bytes };
      },
      skopeo: async (i) => {
        const out = join(work, `skopeo-${i}.tar`);
        const r = await timedShell('$TIME_CMD skopeo copy --quiet --src-tls-verify=false "docker://$1" "docker-archive:$2:$3" >/dev/null', [
          `${registry.host}/${REPO}@${digest}`,
          out,
          `${REPO}:latest`,
        ]);
        const bytes = statSync(out).size;
        const sha = `sha256:${await sha256File(out)}`;
        rmSync(out);
        return { ...r, rssKb: r.maxRssKb, bytes, sha256: sha };
      },
    };
    const order = ['skopeo', 'pullImage'];
    const results = { skopeo: [], pullImage: [] };
    log('warm-up: one pull each');
    for (const m of order) await methods[m](-1);
    for (let i = 0; i < runs; i++) {
      for (const m of i % 2 === 0 ? order : [...order].reverse()) {
        const r = await methods[m](i);
        log(`run ${i + 1}/${runs} ${m}: ${f2(r.wall)} s, RSS ${mbKb(r.rssKb)} MB`);
        results[m].push(r);
      }
    }

    const base = stats(results.skopeo.map((r) => r.wall)).median;
    const row = (label, rs, key = 'wall') => {
      const s = stats(rs.map((r) => r[key]));
      return [
        label,
        f2(s.median),
        f2(s.min),
        f2(s.max),
        f2(s.median / base),
        `${mbKb(stats(rs.map((r) => r.rssKb)).median)} MB`,
        `${mb(rs[0].bytes)} MB`,
      ];
    };
    const ours = stats(results.pullImage.map((r) => r.wall)).median;
    const shas = new Set(results.pullImage.map((r) => r.sha256));
    const lines = [];
    lines.push(
      `pull: ${REPO}@${digest.slice(0, 19)}... from docker-registry on ${registry.host} (${built.layers} gzip layers of a ${mb(size.bytes)} MB rootfs) to a docker-archive; median of ${runs} runs (seconds, spawn to exit)`,
    );
    lines.push(
      table([
        ['method', 'median', 'min', 'max', 'x skopeo', 'peak RSS', 'archive'],
        row('ours: pullImage (node VmHWM)', results.pullImage),
        row('     the same, in process (no Node start, no module import)', results.pullImage, 'seconds'),
        row('baseline: skopeo copy docker://...@digest docker-archive: (maxrss)', results.skopeo),
      ]),
    );
    lines.push(
      `pullImage archive sha256 over ${results.pullImage.length} runs: ${shas.size === 1 ? `all equal, ${[...shas][0]}` : `DIFFERENT: ${[...shas].join(' ')}`}`,
    );
    lines.push(`target "not slower than skopeo": ${ours <= base ? 'met' : 'MISSED'} (${f2(ours / base)}x)`);
    const text = lines.join('\n');
    console.log(text);
    return { text, results };
  } finally {
    const pid = registry?.pid;
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
    let alive = false;
    try {
      if (pid) process.kill(pid, 0);
      alive = Boolean(pid);
    } catch {}
    console.log(
      `left behind: ${alive ? `registry process ${pid}` : 'nothing'} (registry stopped, temp dir removed; rootfs cache kept: ${rootfs})`,
    );
    console.log(
      `(load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} at the end)`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
