// The sidecar ops of the build runner: build, archive, clean, engine_info.
import type { OpHandler } from '../sidecar/context.js';
import { runClean, parseCleanSpec } from './clean.js';
import { runJob } from './job.js';
import { connectChecked } from './preflight.js';
import { parseJobSpec } from './spec.js';

export const buildOp: OpHandler = async (args, ctx) => runJob('build', parseJobSpec(args), ctx);
export const archiveOp: OpHandler = async (args, ctx) => runJob('archive', parseJobSpec(args), ctx);
export const cleanOp: OpHandler = async (args, ctx) => runClean(parseCleanSpec(args), ctx);
export const engineInfoOp: OpHandler = async () => {
  const { engine, version } = await connectChecked();
  return { where: engine.where, ...version };
};
