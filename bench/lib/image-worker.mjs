#!/usr/bin/env node
// One image-toolkit operation in a fresh Node process, so that its peak RSS
// (VmHWM) belongs to that operation alone. Used by bench/image-build.mjs and
// bench/pull.mjs. Prints one line: BENCH_JSON {...}.
//
//   node bench/lib/image-worker.mjs '<json>'
//   { op: "stream-load", name, tag, contents: [dir...] }    streamLayeredImage -> engine image load
//   { op: "build-load",  name, tag, contents, out }        buildLayeredImage to out, then load it (out removed)
//   { op: "build",       name, tag, contents, out }        buildLayeredImage to out (kept)
//   { op: "load",        archive }                          loadImageArchive of a finished archive (the client's own floor)
//   { op: "pull", imageName, imageDigest, out, finalImageName, finalImageTag }
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const job = JSON.parse(process.argv[2]);
const t0 = performance.now();
// What a fresh process doing this op loads: a pull needs pull.js alone (as
// `nerves-docker image pull-image` does), not the builders nor the engine
// client (dockerode and its grpc/ssh dependencies); the builders are what a
// library user gets from the package's entry (`import ... from
// 'nerves-docker-ts'`: this package by its own name, priv/index.mjs, the only
// entry its exports offer), the engine its defaultEngine().
const image = job.op === 'pull' ? await import(join(ROOT, 'dist/image/pull.js')) : await import('nerves-docker-ts');
const tImport = performance.now();
const phases = {};
const mark = (name, since) => {
  phases[name] = (performance.now() - since) / 1000;
  return performance.now();
};
const opts = { name: job.name, tag: job.tag, contents: job.contents, ...(job.extra ?? {}) };
let result = {};

if (job.op === 'stream-load') {
  let t = performance.now();
  const s = await image.streamLayeredImage(opts);
  t = mark('prepare', t);
  // The engine reads the whole upload before it registers any layer: the
  // upload's end splits our part from the engine's own.
  let uploaded = t;
  s.done.then(
    () => (uploaded = mark('upload', t)),
    () => {},
  );
  const loaded = await image.loadImageStream(await image.defaultEngine(), s.stream);
  mark('engine after the last byte', uploaded);
  result = { imageId: s.imageId, layers: s.diffIds.length, loaded };
} else if (job.op === 'build-load' || job.op === 'build') {
  let t = performance.now();
  const r = await image.buildLayeredImage({ ...opts, out: job.out });
  t = mark('build archive', t);
  result = { imageId: r.imageId, layers: r.diffIds.length, archiveSha256: r.sha256 };
  if (job.op === 'build-load') {
    try {
      result.loaded = await image.loadImageArchive(job.out);
      mark('load archive', t);
    } finally {
      rmSync(job.out, { force: true });
    }
  }
} else if (job.op === 'load') {
  const t = performance.now();
  result = { loaded: await image.loadImageArchive(job.archive) };
  mark('load archive', t);
} else if (job.op === 'pull') {
  const r = await image.pullImage({
    imageName: job.imageName,
    imageDigest: job.imageDigest,
    out: job.out,
    finalImageName: job.finalImageName,
    finalImageTag: job.finalImageTag,
    tlsVerify: false,
    log: () => {},
  });
  result = { imageId: r.imageId, sha256: r.sha256 };
} else {
  throw new Error(`unknown op ${job.op}`);
}

const seconds = (performance.now() - tImport) / 1000;
const status = readFileSync('/proc/self/status', 'utf8');
const hwmKb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
process.stdout.write(`BENCH_JSON ${JSON.stringify({ ...result, seconds, importSeconds: (tImport - t0) / 1000, phases, hwmKb })}\n`);
