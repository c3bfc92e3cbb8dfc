#!/usr/bin/env node
// Tree sync into a volume (src/runner/job/inputs/sync/) against its baselines,
// side by side, on a synthetic ~300 MB platform-like tree (generated once
// under /tmp: thousands of small files in nested dirs, a few big ones,
// symlinks):
//   first sync      syncTree into a fresh volume  vs  tar -c -C DIR . | docker run -i --rm -v VOL:/dst IMAGE tar -x -C /dst
//   no-change sync  syncTree again                vs  rsync -a -e 'docker exec -i' DIR/ CTR:/dst/ (same tree, same volume, already there)
//                   twice: reading the volume's state (a build without a record, or after another machine's), and
//                   as a copy build does it, trusting this machine's record of the last sync (host-record.ts; the
//                   build's step driver then checks the state's line in the exec it runs anyway: no request)
//   one file changed
// and the peak RSS (VmHWM) of the process doing each sync (a fresh Node
// process per sync, so it is the sync's alone). The rsync baseline needs rsync
// on the host and in an image: one is built from the example image plus the
// host's rsync and its libraries (tag localhost/nerves-docker-ts/bench-rsync).
// Needs `npx tsc -p tsconfig.json` (imports dist/). Everything it creates is removed.
//
//   node bench/sync.mjs [--files N] [--runs N]      (default 20000 small files, 3 runs)
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import Docker from 'dockerode';

const ROOT = resolve(import.meta.dirname, '..');
const IMAGE = 'localhost/nerves-docker-ts/example-br:0.1.0';
const RSYNC_IMAGE = 'localhost/nerves-docker-ts/bench-rsync:latest';
const docker = new Docker();
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};

/** Worker mode: one syncTree in this process; prints its result, time and VmHWM. */
if (process.argv[2] === '--worker') {
  const [, , , volume, hostDir, recordFile, trustFile] = process.argv;
  const { syncTree } = await import(join(ROOT, 'dist/runner/job/inputs/sync/index.js'));
  const c = await docker.createContainer({
    Image: IMAGE,
    Cmd: ['sleep', '600'],
    User: '0',
    HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: '/nerves/env/platform' }] },
  });
  try {
    const t0 = performance.now();
    const trusted = trustFile
      ? new Map(Object.entries(JSON.parse(readFileSync(trustFile, 'utf8'))).map(([k, v]) => [k, Buffer.from(v, 'base64')]))
      : null;
    const r = await syncTree({ container: c, root: '/nerves/env/platform' }, { hostDir, exclude: [], trusted });
    const seconds = (performance.now() - t0) / 1000;
    if (trusted && !r.check) throw new Error('the record was not trusted: the tree changed?');
    if (recordFile && r.record)
      writeFileSync(recordFile, JSON.stringify(Object.fromEntries([...r.record].map(([k, v]) => [k, v.toString('base64')]))));
    if (r.finish) {
      await c.start();
      const exec = await c.exec({ Cmd: r.finish, User: '0' });
      await exec.start({ Detach: false }).then(
        (s) =>
          new Promise((res) => {
            s.on('end', res);
            s.resume();
          }),
      );
    }
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    console.log(`BENCH_JSON ${JSON.stringify({ seconds, hwm, result: { ...r, finish: r.finish ? 'yes' : null, record: null } })}`);
  } finally {
    await c.remove({ force: true });
  }
  process.exit(0);
}

function makeTree(dir, smallFiles) {
  if (existsSync(join(dir, '.complete'))) return;
  rmSync(dir, { recursive: true, force: true });
  for (let i = 0; i < smallFiles; i++) {
    const d = join(dir, `pkg${i % 97}`, `sub${i % 13}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `file-${i}.c`), randomBytes((i * 7919) % 16000));
    if (i % 500 === 0) symlinkSync(`file-${i}.c`, join(d, `link-${i}`));
  }
  mkdirSync(join(dir, 'big'), { recursive: true });
  for (let i = 0; i < 4; i++) writeFileSync(join(dir, 'big', `blob-${i}.tar`), randomBytes(35 << 20));
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  writeFileSync(join(dir, '.complete'), '');
}

function time(fn) {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString();
}

function worker(volume, dir, record = '', trust = '') {
  const out = sh(process.execPath, [import.meta.filename, '--worker', volume, dir, record, trust]);
  return JSON.parse(out.split('BENCH_JSON ')[1]);
}

/** An image with rsync: the example image plus the host's rsync and the libraries it loads. */
function rsyncImage() {
  const rsync = sh('sh', ['-c', 'command -v rsync']).trim();
  const ctx = mkdtempSync(join(tmpdir(), 'ndt-bench-rsync-'));
  const libs = sh('ldd', [rsync])
    .split('\n')
    .map((l) => /=> (\S+)/.exec(l)?.[1])
    .filter(Boolean);
  for (const f of [rsync, ...libs]) {
    mkdirSync(join(ctx, 'root', dirname(f)), { recursive: true });
    copyFileSync(f, join(ctx, 'root', f));
  }
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${IMAGE}\nCOPY root/ /\nUSER 0\n`);
  sh('docker', ['build', '-q', '-t', RSYNC_IMAGE, ctx]);
  rmSync(ctx, { recursive: true, force: true });
}

const f2 = (n) => n.toFixed(2);
const mb = (n) => (n / 1e6).toFixed(1);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = join(tmpdir(), `ndt-sync-bench-${arg('--files', 20000)}`);
const runs = arg('--runs', 3);
makeTree(dir, arg('--files', 20000));
const size = Number(sh('du', ['-sb', dir]).split('\t')[0]);
const count = Number(sh('sh', ['-c', `find "${dir}" | wc -l`]).trim());
console.log(`tree: ${dir}: ${count} entries, ${mb(size)} MB; engine: ${(await docker.version()).Version}; ${runs} runs, median`);
rsyncImage();

const rows = [];
const firstTar = [],
  firstOurs = [],
  noChangeOurs = [],
  noChangeRsync = [],
  noChangeTrusted = [],
  oneOurs = [],
  hwms = [];
let noChangeBytes = 0;
for (let run = 0; run < runs; run++) {
  const v1 = `ndt-bench-tar-${process.pid}-${run}`;
  const v2 = `ndt-bench-sync-${process.pid}-${run}`;
  try {
    firstTar.push(
      time(() => sh('sh', ['-c', `tar -c -C "$0" . | docker run -i --rm --user 0 -v "$1":/dst "$2" tar -x -C /dst`, dir, v1, IMAGE])),
    );
    const recordFile = join(tmpdir(), `ndt-bench-record-${process.pid}.json`);
    const first = worker(v2, dir, recordFile);
    firstOurs.push(first.seconds);
    hwms.push(first.hwm);
    const trusted = worker(v2, dir, '', recordFile);
    noChangeTrusted.push(trusted.seconds);
    hwms.push(trusted.hwm);
    rmSync(recordFile, { force: true });
    const again = worker(v2, dir);
    noChangeOurs.push(again.seconds);
    hwms.push(again.hwm);
    noChangeBytes = again.result.archiveBytes;
    // rsync into the volume the tar baseline filled (same tree): the no-change case.
    const ctr = sh('docker', ['run', '-d', '--rm', '-v', `${v1}:/dst`, RSYNC_IMAGE, 'sleep', '600']).trim();
    try {
      sh('rsync', ['-a', '--blocking-io', '-e', 'docker exec -i', `${dir}/`, `${ctr}:/dst/`]);
      noChangeRsync.push(time(() => sh('rsync', ['-a', '--blocking-io', '-e', 'docker exec -i', `${dir}/`, `${ctr}:/dst/`])));
    } finally {
      sh('docker', ['rm', '-f', ctr]);
    }
    writeFileSync(join(dir, 'pkg1/sub1/file-1.c'), `changed ${run} ${Date.now()}\n`);
    const one = worker(v2, dir);
    oneOurs.push(one.seconds);
    hwms.push(one.hwm);
  } finally {
    sh('docker', ['volume', 'rm', '-f', v1, v2]);
  }
}
rows.push([
  'first sync into a fresh volume',
  `${f2(median(firstOurs))} s`,
  `tar | docker run tar -x: ${f2(median(firstTar))} s`,
  `${f2(median(firstOurs) / median(firstTar))}x`,
]);
rows.push([
  "no-change sync, reading the volume's state",
  `${f2(median(noChangeOurs))} s (${noChangeBytes} bytes sent)`,
  `rsync -a -e 'docker exec -i': ${f2(median(noChangeRsync))} s`,
  `${f2(median(noChangeOurs) / median(noChangeRsync))}x`,
]);
rows.push([
  'no-change sync, as a copy build does it (record trusted)',
  `${f2(median(noChangeTrusted))} s (0 bytes sent, no request)`,
  `rsync -a -e 'docker exec -i': ${f2(median(noChangeRsync))} s`,
  `${f2(median(noChangeTrusted) / median(noChangeRsync))}x`,
]);
rows.push(['one file changed', `${f2(median(oneOurs))} s`, '', '']);
rows.push(['peak RSS of a sync (VmHWM, max)', `${mb(Math.max(...hwms))} MB`, '', '']);
const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i])).join('  |  '));
sh('docker', ['rmi', RSYNC_IMAGE]);
