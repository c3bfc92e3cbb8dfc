// The Debian rootfs of the image benches (bench/image-build.mjs, bench/pull.mjs):
// a debootstrap minbase bookworm made once and cached under /tmp (outside the
// repository; reruns reuse it), split into N groups of top-level directories
// and big subtrees, each group staged as its own directory of hard links
// (group/usr/lib/..., so that "copy this directory into /" puts it in place).
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { log } from './common.mjs';

export const DEFAULT_CACHE = process.env.BENCH_ROOTFS_CACHE || join(tmpdir(), 'ndt-bench-cache');

/**
 * The rootfs to use: `given` (--rootfs DIR) as is, else the cached debootstrap
 * minbase (made on first use, about a minute; the downloaded .deb files are
 * removed, as `apt-get clean` does).
 */
export function ensureRootfs(given, cacheDir = DEFAULT_CACHE) {
  if (given) {
    if (!statSync(given).isDirectory()) throw new Error(`--rootfs ${given} is not a directory`);
    return given;
  }
  const dir = join(cacheDir, 'bookworm-minbase');
  if (existsSync(join(dir, 'etc/debian_version'))) return dir;
  mkdirSync(cacheDir, { recursive: true });
  const partial = `${dir}.partial-${process.pid}`;
  log(`making the rootfs with debootstrap --variant=minbase bookworm ${dir} (cached for later runs)`);
  try {
    execFileSync('debootstrap', ['--variant=minbase', 'bookworm', partial, 'http://deb.debian.org/debian'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const debs = join(partial, 'var/cache/apt/archives');
    for (const f of readdirSync(debs)) if (f.endsWith('.deb')) unlinkSync(join(debs, f));
    renameSync(partial, dir);
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    if (err.code === 'ENOENT') throw new Error('debootstrap is missing: apt-get install -y debootstrap');
    throw err;
  }
  return dir;
}

/** Apparent size (bytes) and entry count of a tree, without following symlinks. */
export function treeSize(p) {
  const st = lstatSync(p);
  let bytes = st.isFile() ? st.size : 0;
  let entries = 1;
  if (st.isDirectory()) {
    for (const c of readdirSync(p)) {
      const s = treeSize(join(p, c));
      bytes += s.bytes;
      entries += s.entries;
    }
  }
  return { bytes, entries };
}

/**
 * Split the rootfs into `n` groups: start from its top-level entries, split
 * the biggest directory into its children while it is bigger than 2 x total/n
 * (or while there are fewer than n units), then cut the sorted units into n
 * contiguous runs of about equal size. Returns { groups: [{ name, units,
 * bytes }], total, units }.
 */
export function planGroups(rootfs, n) {
  const sizeOf = new Map();
  const unit = (rel) => {
    const s = treeSize(join(rootfs, rel));
    sizeOf.set(rel, s.bytes);
    return rel;
  };
  let units = readdirSync(rootfs).sort().map(unit);
  const total = units.reduce((a, u) => a + sizeOf.get(u), 0);
  for (;;) {
    const dirs = units.filter((u) => lstatSync(join(rootfs, u)).isDirectory() && readdirSync(join(rootfs, u)).length > 0);
    dirs.sort((a, b) => sizeOf.get(b) - sizeOf.get(a));
    const big = dirs[0];
    if (!big || (units.length >= n && sizeOf.get(big) <= (2 * total) / n)) break;
    const children = readdirSync(join(rootfs, big))
      .sort()
      .map((c) => unit(`${big}/${c}`));
    units = units.filter((u) => u !== big).concat(children);
  }
  if (units.length < n) throw new Error(`the rootfs has only ${units.length} entries: cannot make ${n} groups`);
  // Contiguous runs of the sorted units (neighbouring subtrees stay together),
  // each run closed once it reaches its share of what is left.
  units.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const groups = [];
  let left = total;
  let i = 0;
  for (let k = 0; k < n; k++) {
    const g = { name: `g${String(k + 1).padStart(2, '0')}`, units: [], bytes: 0 };
    const share = left / (n - k);
    while (
      i < units.length &&
      (g.units.length === 0 || k === n - 1 || (g.bytes + sizeOf.get(units[i]) / 2 < share && units.length - i > n - k - 1))
    ) {
      g.units.push(units[i]);
      g.bytes += sizeOf.get(units[i]);
      i++;
    }
    left -= g.bytes;
    groups.push(g);
  }
  return { groups, total, units: units.length };
}

/**
 * Stage each group as DIR/<name>/ holding its units at their rootfs paths
 * (hard links when on the same filesystem, else copies; `cp -a --parents`
 * keeps the modes of the parent directories too).
 */
export function stageGroups(rootfs, groups, dir) {
  mkdirSync(dir, { recursive: true });
  let link = canHardLink(rootfs, dir);
  for (const g of groups) {
    const gd = join(dir, g.name);
    mkdirSync(gd);
    execFileSync('cp', [link ? '-al' : '-a', '--parents', '--', ...g.units, gd], { cwd: rootfs, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return groups.map((g) => join(dir, g.name));
}

function canHardLink(rootfs, dir) {
  const probe = join(dir, '.link-probe');
  try {
    linkSync(join(rootfs, 'etc/debian_version'), probe);
    unlinkSync(probe);
    return true;
  } catch {
    return false;
  }
}

/** A Dockerfile with one COPY per group: FROM scratch, COPY gNN/ /. */
export function writeDockerfile(dir, groups, file = 'Dockerfile') {
  const lines = ['FROM scratch', ...groups.map((g) => `COPY ${g.name}/ /`), ''];
  writeFileSync(join(dir, file), lines.join('\n'));
  return join(dir, file);
}

/** The first groups (in order) whose sizes add up to about half of the total. */
export function halfOf(groups) {
  const total = groups.reduce((a, g) => a + g.bytes, 0);
  const out = [];
  let sum = 0;
  for (const g of groups) {
    if (sum >= total / 2) break;
    if (sum + g.bytes > total * 0.6 && out.length > 0) continue;
    out.push(g);
    sum += g.bytes;
  }
  return { groups: out, bytes: sum };
}
