#!/usr/bin/env node
// Profiling aid for the runner-overhead bench: one warm build of the example
// through the sidecar, with every Engine API request it makes timed through a
// tracing proxy (bench/lib/engine-trace.mjs), and the sidecar's events on the
// same clock. Shows where the time between the steps goes.
//
//   node bench/profile-build.mjs [--runs N] [--inputs bind|copy]   (N traced builds after one warm-up; default 1, bind)
import { f3, argOf, dockerQuiet, makeWorkspace, SidecarClient } from './lib/common.mjs';
import { startEngineTrace } from './lib/engine-trace.mjs';

const N = Number(argOf('runs', 1));
const INPUTS = argOf('inputs', 'bind');
const ws = makeWorkspace('ndt-bench-prof-');
// Copy builds share a downloads volume: removed at the end if this run made it.
const DOWNLOADS = 'nerves-docker-ts-downloads';
const hadDownloads = (await dockerQuiet(['volume', 'inspect', DOWNLOADS])).exitCode === 0;
const trace = await startEngineTrace();
try {
  for (let i = 0; i <= N; i++) {
    trace.reset();
    const t0 = trace.now();
    const sc = await SidecarClient.start({ env: { DOCKER_HOST: trace.host } });
    const th = trace.now();
    const evs = [];
    const r = await sc.request('build', ws.spec({ inputs: INPUTS }), (event, data) => {
      if (event === 'header' || event === 'info' || event === 'warn')
        evs.push(
          `${trace.now().toFixed(0).padStart(7)} ms  event ${event}: ${typeof data === 'string' ? data : JSON.stringify(data)}`.slice(
            0,
            160,
          ),
        );
    });
    const tr = trace.now();
    await sc.stop();
    const te = trace.now();
    if (i === 0) continue;
    console.log(
      `build ${i}: spawn ${t0.toFixed(0)} ms, hello ${th.toFixed(0)} ms, reply ${tr.toFixed(0)} ms, exit ${te.toFixed(0)} ms; op ${f3((tr - th) / 1000)} s`,
    );
    console.log(`steps: ${r.steps.map((s) => `${s.name} ${f3(Number(s.seconds))}`).join(', ')}`);
    const lines = trace
      .report(t0)
      .split('\n')
      .concat(evs)
      .sort((a, b) => parseFloat(a) - parseFloat(b));
    console.log(lines.join('\n'));
  }
} finally {
  await trace.close();
  await ws.remove();
  if (!hadDownloads) await dockerQuiet(['volume', 'rm', '-f', DOWNLOADS]);
}
