// The sidecar ops of the build runner: build, archive, clean, engine_info.
import type { OpHandler } from '../protocol/op-context.js';
import { runClean, parseCleanSpec } from './clean.js';
import { runJob } from './job/run-job.js';
import { connectChecked } from './job/preflight.js';
import { runDoctor } from './doctor.js';
import { parseJobSpec } from './spec.js';

export const buildOp: OpHandler = async (args, ctx) => runJob('build', parseJobSpec(args), ctx);
export const archiveOp: OpHandler = async (args, ctx) => runJob('archive', parseJobSpec(args), ctx);
export const cleanOp: OpHandler = async (args, ctx) => runClean(parseCleanSpec(args), ctx);
export const engineInfoOp: OpHandler = async () => {
  const { engine, version } = await connectChecked();
  return { where: engine.where, how: engine.how, ...version };
};
export const doctorOp: OpHandler = async (args) => {
  const a = (args ?? {}) as { image?: unknown; home?: unknown; spec?: unknown };
  return runDoctor({
    image: typeof a.image === 'string' ? a.image : undefined,
    // The system's job spec (mix nerves_docker_ts.doctor in a system project): an invalid one fails as a build would.
    spec: a.spec ? parseJobSpec(a.spec) : undefined,
    home: typeof a.home === 'string' ? a.home : undefined,
  });
};
