#!/usr/bin/env node
// Sidecar start: runs bench/sidecar_start.exs in mix_plugin/ (the timing is
// done in the VM: Port.open to hello over 20 starts, with the bare sidecar
// port and `node -e 0` as baselines) and passes its report through.
//
//   node bench/sidecar-start.mjs [--runs N]      (or BENCH_RUNS=N; default 20)
//   cd mix_plugin && mix run ../bench/sidecar_start.exs [N]     (the same, directly)
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT, argOf } from './lib/common.mjs';

export async function main() {
  if (!existsSync(join(ROOT, 'priv/sidecar.mjs'))) throw new Error('priv/sidecar.mjs is missing: run `npm run build` first');
  const runs = String(argOf('runs', process.env.BENCH_RUNS || 20));
  const r = await execa('mix', ['run', '../bench/sidecar_start.exs', runs], {
    cwd: join(ROOT, 'mix_plugin'),
    stdin: 'ignore',
    all: true,
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`mix run ../bench/sidecar_start.exs failed (${r.exitCode}):\n${r.all.slice(-4000)}`);
  const lines = r.stdout.split('\n');
  const json = JSON.parse(lines.find((l) => l.startsWith('BENCH_JSON ')).slice('BENCH_JSON '.length));
  const text = lines.filter((l) => !l.startsWith('BENCH_JSON ') && l.trim() !== '').join('\n');
  console.log(text);
  return { text, json };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
