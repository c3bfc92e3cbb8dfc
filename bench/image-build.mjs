#!/usr/bin/env node
// Image building (issue 8, bench 3): a Debian minbase rootfs (debootstrap,
// cached under /tmp) as a layered image of N >= 15 layers, built and loaded
// into the engine by
//   (a) this toolkit: streamLayeredImage straight into the engine's image
//       load, and buildLayeredImage to a file then load (each in a fresh Node
//       process: its VmHWM is the toolkit's peak RSS),
//   (b) `docker build` (legacy builder: no buildx here) of the same content,
//       FROM scratch with one COPY per group directory,
//   (c) `tar -C rootfs -c . | docker import -` (one layer: the floor).
// The rootfs is split into N groups (top-level directories and big subtrees),
// staged twice as hard-link trees in two different directories; toolkit runs
// alternate between them and must all give the same image ID. The toolkit is
// also run on about half of the groups: its peak RSS must not grow with the
// image. dockerd's own work is in every wall time but in no RSS figure.
//
//   node bench/image-build.mjs [--runs N] [--layers N] [--rootfs DIR] [--only stream,dockerLoad]
//   (--only: the methods to run, for A/B pairs; the report then shows those rows alone)
//   (BENCH_IMAGE_RUNS, default 3; BENCH_IMAGE_LAYERS, default 15)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { argOf, f1, f2, f3, intEnv, log, ROOT, settle, stats, table } from './lib/common.mjs';
import { ensureRootfs, halfOf, planGroups, stageGroups, treeSize, writeDockerfile } from './lib/rootfs.mjs';
import { imagesNamed, mb, mbKb, removeImage, runWorker, timedShell } from './lib/image-bench.mjs';

const NAME = 'ndt-bench/image-build';

export async function main() {
  const runs = Number(argOf('runs', intEnv('BENCH_IMAGE_RUNS', 3)));
  const nGroups = Number(argOf('layers', intEnv('BENCH_IMAGE_LAYERS', 15)));
  if (nGroups < 1) throw new Error('--layers must be at least 1');
  const rootfs = ensureRootfs(argOf('rootfs', process.env.BENCH_ROOTFS || ''));
  const size = treeSize(rootfs);
  const plan = planGroups(rootfs, nGroups);
  const half = halfOf(plan.groups);
  log(`rootfs ${rootfs}: ${mb(size.bytes)} MB in ${size.entries} entries; ${plan.groups.length} groups of ${plan.units} subtrees`);

  const work = mkdtempSync(join(tmpdir(), 'ndt-bench-image-'));
  const leftovers = [];
  const made = new Set();
  try {
    // Two stagings in different directories (same group names: the image must not depend on where they are).
    const ctx = join(work, 'a', 'context');
    const dirsA = stageGroups(rootfs, plan.groups, ctx);
    const dirsB = stageGroups(rootfs, plan.groups, join(work, 'b', 'elsewhere', 'groups'));
    writeDockerfile(ctx, plan.groups);
    const halfDirs = half.groups.map((g) => join(ctx, g.name));
    // The toolkit's archive, made once (untimed), for the engine's own load time.
    const archive = join(work, 'toolkit-image.tar');
    await runWorker({ op: 'build', name: NAME, tag: 'archive', contents: dirsA, out: archive });

    const methods = {
      import: async (i) => {
        const ref = `${NAME}-import:r${i}`;
        made.add(ref);
        const r = await timedShell('tar -C "$1" -c . | $TIME_CMD docker import - "$2" >/dev/null', [rootfs, ref]);
        return { ...r, ref, rssKb: r.maxRssKb };
      },
      dockerBuild: async (i) => {
        const ref = `${NAME}-docker-build:r${i}`;
        made.add(ref);
        const r = await timedShell('$TIME_CMD docker build -q --no-cache --force-rm -t "$2" "$1" >/dev/null', [ctx, ref], {
          env: { DOCKER_BUILDKIT: '0' },
        });
        return { ...r, ref, rssKb: r.maxRssKb };
      },
      dockerLoad: async () => {
        const ref = `${NAME}:archive`;
        made.add(ref);
        const r = await timedShell('$TIME_CMD docker load -q -i "$1" >/dev/null', [archive]);
        return { ...r, ref, rssKb: r.maxRssKb };
      },
      clientLoad: async () => {
        // The toolkit's own client loading the finished archive: Node's start, the import and our upload of
        // the same bytes with nothing to generate, the floor of any stream made in a Node process.
        const ref = `${NAME}:archive`;
        made.add(ref);
        const r = await runWorker({ op: 'load', archive });
        return { ...r, ref, rssKb: r.hwmKb, inProcess: r.seconds };
      },
      stream: async (i) => {
        const dirs = i % 2 === 0 ? dirsA : dirsB;
        const ref = `${NAME}:stream`;
        made.add(ref);
        const r = await runWorker({ op: 'stream-load', name: NAME, tag: 'stream', contents: dirs }, { cwd: join(dirs[0], '..') });
        return { ...r, ref, rssKb: r.hwmKb, inProcess: r.seconds };
      },
      cli: async (i) => {
        // What a user types: the bundled CLI streaming into the engine (--load), no docker CLI.
        const dirs = i % 2 === 0 ? dirsB : dirsA;
        const ref = `${NAME}:cli`;
        made.add(ref);
        const spec = join(work, `cli-${i}.json`);
        writeFileSync(spec, JSON.stringify({ name: NAME, tag: 'cli', contents: dirs, load: true }));
        const r = await timedShell('$TIME_CMD node "$1" image stream-layered-image --spec "$2"', [
          join(ROOT, 'priv/nerves-docker.mjs'),
          spec,
        ]);
        return { ...r, ref, rssKb: r.maxRssKb, imageId: JSON.parse(r.stdout).imageId };
      },
      file: async (i) => {
        const dirs = i % 2 === 0 ? dirsB : dirsA;
        const ref = `${NAME}:file`;
        made.add(ref);
        const r = await runWorker(
          { op: 'build-load', name: NAME, tag: 'file', contents: dirs, out: join(work, `image-${i}.tar`) },
          { cwd: join(dirs[0], '..') },
        );
        return { ...r, ref, rssKb: r.hwmKb, inProcess: r.seconds };
      },
      half: async () => {
        const ref = `${NAME}:half`;
        made.add(ref);
        const r = await runWorker({ op: 'stream-load', name: NAME, tag: 'half', contents: halfDirs });
        return { ...r, ref, rssKb: r.hwmKb, inProcess: r.seconds };
      },
    };
    const all = ['import', 'stream', 'cli', 'file', 'clientLoad', 'dockerLoad', 'dockerBuild', 'half'];
    const only = argOf('only', '');
    const order = only ? only.split(',') : all;
    for (const m of order) if (!all.includes(m)) throw new Error(`--only: unknown method ${m} (one of ${all.join(', ')})`);
    const results = Object.fromEntries(order.map((m) => [m, []]));

    // Warm-up (untimed): the page cache holds the rootfs and both stagings, the engine has answered.
    log('warm-up: one import and one toolkit stream-load');
    for (const m of ['import', 'stream'].filter((x) => order.includes(x) || !only)) {
      const r = await methods[m](-1);
      leftovers.push(...(await removeImage(r.ref)));
    }
    // The engine's own load and the toolkit's methods take turns among themselves, then the other baselines:
    // right after `tar | docker import` (and its image's removal) the next load took up to twice its time,
    // even with the machine idle and the disk written back, so no compared method may follow one.
    const heavy = ['import', 'dockerBuild'];
    const phases = [order.filter((m) => !heavy.includes(m)), order.filter((m) => heavy.includes(m))];
    for (const methodsOfPhase of phases) {
      for (let i = 0; i < runs; i++) {
        // rotate the order so that no method always follows the same one
        const n = methodsOfPhase.length;
        const round = methodsOfPhase.slice(i % n).concat(methodsOfPhase.slice(0, i % n));
        for (const m of round) {
          // Untimed: the previous method's writes reach the disk and the machine is idle again.
          execFileSync('sync');
          await settle();
          const r = await methods[m](i);
          log(`run ${i + 1}/${runs} ${m}: ${f2(r.wall)} s, RSS ${mbKb(r.rssKb)} MB${r.imageId ? `, ${r.imageId.slice(0, 19)}` : ''}`);
          results[m].push(r);
          leftovers.push(...(await removeImage(r.ref)));
        }
      }
    }

    // Node's own start here, for the CLI's figure (Node 20 builds its root certificate store at start when
    // NODE_EXTRA_CA_CERTS is set: that alone was 80-100 ms of a 0.13 s `node -e 0` on 2026-12-07).
    const nodeStart = [];
    if (results.cli?.length) for (let i = 0; i < 5; i++) nodeStart.push((await timedShell('$TIME_CMD node -e 0', [])).wall);
    const startLine = nodeStart.length
      ? `Node's own start here (node -e 0, median of 5 after the rounds): ${f2(stats(nodeStart).median)} s; NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'set' : 'not set'}`
      : '';

    // ---------------------------------------------------------------- report
    if (only) return { text: reportOnly(results, order, startLine), results };
    const floor = stats(results.import.map((r) => r.wall)).median;
    const row = (label, rs, key = 'wall') => {
      const s = stats(rs.map((r) => r[key]));
      const rss = stats(rs.map((r) => r.rssKb));
      return [label, f2(s.median), f2(s.min), f2(s.max), f2(s.median / floor), `${mbKb(rss.median)} MB`];
    };
    const ids = [...results.stream, ...results.cli, ...results.file].map((r) => r.imageId);
    const sameId = ids.every((id) => id === ids[0]);
    const layers = results.stream[0].layers;
    const lines = [];
    lines.push(
      `image building: ${rootfs} (${mb(size.bytes)} MB, ${size.entries} entries) in ${plan.groups.length} groups; median of ${runs} runs (seconds, spawn to exit)`,
    );
    lines.push(
      table([
        ['method', 'median', 'min', 'max', 'x floor', 'peak RSS'],
        row(`(a) toolkit: streamLayeredImage -> engine load (${layers} layers; node VmHWM)`, results.stream),
        row('    the same, in process (no Node start, no module import)', results.stream, 'inProcess'),
        row('(a) toolkit CLI: nerves-docker image stream-layered-image --load (bundle; node maxrss)', results.cli),
        row(`(a) toolkit: buildLayeredImage to a file, then load (node VmHWM)`, results.file),
        row('    the same, in process', results.file, 'inProcess'),
        row("    engine alone: docker load -i <the toolkit's archive> (docker CLI maxrss)", results.dockerLoad),
        row("    the toolkit's client loading that archive (loadImageArchive; node VmHWM)", results.clientLoad),
        row('    the same, in process', results.clientLoad, 'inProcess'),
        row(`(b) docker build, FROM scratch + ${plan.groups.length} COPY (docker CLI maxrss)`, results.dockerBuild),
        row('(c) floor: tar -C rootfs -c . | docker import - (1 layer; docker CLI maxrss)', results.import),
      ]),
    );
    const ph = (rs) =>
      Object.keys(rs[0].phases)
        .map((k) => `${k} ${f2(stats(rs.map((r) => r.phases[k])).median)}`)
        .join(', ');
    lines.push(
      `    toolkit phases (median s): stream: import ${f2(stats(results.stream.map((r) => r.importSeconds)).median)}, ${ph(results.stream)}; file: ${ph(results.file)}`,
    );
    lines.push('    (dockerd does the unpacking in every method; its time is in the seconds, its memory in no RSS figure)');
    const halfHwm = stats(results.half.map((r) => r.hwmKb)).median;
    const fullHwm = stats(results.stream.map((r) => r.hwmKb)).median;
    lines.push(
      `toolkit peak RSS by image size: half (${half.groups.length} groups, ${mb(half.bytes)} MB) ${mbKb(halfHwm)} MB; full (${mb(plan.total)} MB) ${mbKb(fullHwm)} MB; buildLayeredImage to a file (full) ${mbKb(stats(results.file.map((r) => r.hwmKb)).median)} MB`,
    );
    lines.push(
      `image ID of ${ids.length} toolkit runs from 2 directories (${join(work, 'a')}/..., ${join(work, 'b')}/...): ${sameId ? `all equal, ${ids[0]}` : `DIFFERENT: ${[...new Set(ids)].join(' ')}`}`,
    );

    const stream = stats(results.stream.map((r) => r.wall)).median;
    const inproc = stats(results.stream.map((r) => r.inProcess)).median;
    const fileM = stats(results.file.map((r) => r.wall)).median;
    const flat = fullHwm - halfHwm <= Math.max(10 * 1024, 0.15 * halfHwm);
    const loadM = stats(results.dockerLoad.map((r) => r.wall)).median;
    lines.push(
      `target "within 1.5x of the import floor": ${stream <= 1.5 * floor ? 'met' : 'MISSED'} (stream-load ${f2(stream / floor)}x spawn to exit, ${f2(inproc / floor)}x in process; build-then-load ${f2(fileM / floor)}x; the engine's own load of the same ${layers}-layer archive ${f2(loadM / floor)}x)`,
    );
    const fileIn = stats(results.file.map((r) => r.inProcess)).median;
    const cliM = stats(results.cli.map((r) => r.wall)).median;
    lines.push(
      `target "stream into the engine <= 1.15x the engine's own docker load -i of the same archive" (issue 17): ${cliM <= 1.15 * loadM ? 'met' : 'MISSED'} (the CLI's stream-layered-image --load ${f2(cliM / loadM)}x, command against command; the library ${f2(stream / loadM)}x spawn to exit, ${f2(inproc / loadM)}x in process; docker load -i ${f2(loadM)} s)`,
    );
    lines.push(`    ${startLine}`);
    lines.push(
      `target "streaming no slower than building to a file then loading it": ${stream <= fileM ? 'met' : 'MISSED'} (stream ${f2(stream)} s, file then load ${f2(fileM)} s; in process ${f2(inproc)} s against ${f2(fileIn)} s)`,
    );
    lines.push(
      `target "memory flat in image size": ${flat ? 'met' : 'MISSED'} (+${mbKb(fullHwm - halfHwm)} MB for +${mb(plan.total - half.bytes)} MB of image)`,
    );
    lines.push(`target "same sha256 (image ID) for two runs": ${sameId ? 'met' : 'MISSED'}`);
    const text = lines.join('\n');
    console.log(text);
    return { text, results };
  } finally {
    for (const ref of made) leftovers.push(...(await removeImage(ref)));
    rmSync(work, { recursive: true, force: true });
    const still = await imagesNamed(NAME);
    console.log(
      `left on the engine: ${still.length || leftovers.length ? [...still, ...leftovers].join(' ') : 'nothing'}; temp dir removed (rootfs cache kept: ${rootfs})`,
    );
    console.log(
      `(load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} at the end)`,
    );
  }
}

/** Each round's a/b (the methods of a round run one after the other, so a round's engine state is shared): their median and range. */
function pairedRatios(a, b) {
  const r = a.map((x, i) => x.wall / b[i]?.wall).filter(Number.isFinite);
  const s = stats(r);
  return `paired by round: median ${f3(s.median)}x (${f2(s.min)}-${f2(s.max)}, ${r.filter((x) => x <= 1.15).length} of ${r.length} rounds <= 1.15x)`;
}

/** The methods asked for with --only: median, min, max and each run, and stream against docker load -i when both ran. */
function reportOnly(results, order, startLine) {
  const lines = [];
  /** A method's median wall time (or another of its figures). */
  const median = (m, key = 'wall') => stats(results[m].map((r) => r[key])).median;
  for (const m of order) {
    const w = results[m].map((r) => r.wall);
    const s = stats(w);
    const inp = results[m][0]?.inProcess !== undefined ? `; in process ${f2(median(m, 'inProcess'))}` : '';
    const ph = results[m][0]?.phases
      ? `; phases ${Object.keys(results[m][0].phases)
          .map((k) => `${k} ${f2(stats(results[m].map((r) => r.phases[k])).median)}`)
          .join(', ')}`
      : '';
    lines.push(`${m}: median ${f2(s.median)} s (min ${f2(s.min)}, max ${f2(s.max)}; runs ${w.map(f2).join(' ')})${inp}${ph}`);
  }
  const load = results.dockerLoad?.length ? median('dockerLoad') : NaN;
  if (results.cli?.length && results.dockerLoad?.length) {
    const c = median('cli');
    lines.push(
      `nerves-docker image stream-layered-image --load / docker load -i (issue 17, target <= 1.15x, command against command): ${f2(c / load)}x: ${c <= 1.15 * load ? 'met' : 'MISSED'}; ${pairedRatios(results.cli, results.dockerLoad)}`,
    );
    if (startLine) lines.push(`    ${startLine}`);
  }
  if (results.clientLoad?.length && results.dockerLoad?.length) {
    const own = median('clientLoad');
    const inp = median('clientLoad', 'inProcess');
    const cli = results.cli?.length ? median('cli') : NaN;
    lines.push(
      `the toolkit's own load of the same archive / docker load -i (the floor of a stream made in Node): ${f2(own / load)}x spawn to exit, ${f2(inp / load)}x in process; ${pairedRatios(results.clientLoad, results.dockerLoad)}${Number.isFinite(cli) ? `; the CLI's stream over it: +${f2(cli - own)} s (the generation)` : ''}`,
    );
  }
  if (results.stream?.length && results.dockerLoad?.length) {
    const st = median('stream');
    const inp = median('stream', 'inProcess');
    lines.push(
      `stream / docker load -i (issue 17, target <= 1.15x): ${f2(st / load)}x spawn to exit, ${f2(inp / load)}x in process: ${st <= 1.15 * load ? 'met' : 'MISSED'}; ${pairedRatios(results.stream, results.dockerLoad)}`,
    );
  }
  const text = lines.join('\n');
  console.log(text);
  return text;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
