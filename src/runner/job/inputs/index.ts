// How the job's inputs reach the build container: the system package, its
// platform (nerves_system_br), Buildroot's download dir and ~/.ssh. One
// module per transport in this folder (the interface: transport.ts): bind.ts
// (bind mounts of this machine's directories) and copy.ts (copies in
// volumes on the engine, for engines that cannot see this machine's files).
// Chosen here: NERVES_DOCKER_TS_INPUTS, else build_runner_opts inputs:,
// else auto (copy for an engine on another host; bind, checked, otherwise).
import { engineLocality, REMOTE_OK_ENV } from '../../../engine/connect.js';
import { envFlag } from '../../../engine/discovery.js';
import { OpError } from '../../../errors.js';
import { INPUTS_MODES, type InputsMode } from '../../spec.js';
import type { InputsContext } from './copy.js';
import { checkedBind, trustedBind } from './bind.js';
import { copyInputs } from './copy.js';
import type { InputTransport } from './transport.js';

export type { InputTransport } from './transport.js';
import { InputsNotVisible } from './transport.js';

export { InputsNotVisible };
export type { InputsContext } from './copy.js';

export const INPUTS_ENV = 'NERVES_DOCKER_TS_INPUTS';

/** The mode asked for, and by whom. */
export function inputsMode(spec: { inputs: InputsMode }, env: NodeJS.ProcessEnv = process.env): { mode: InputsMode; by: string } {
  const forced = env[INPUTS_ENV]?.trim();
  if (forced) {
    if (!(INPUTS_MODES as readonly string[]).includes(forced)) {
      throw new OpError(
        'invalid_env',
        `${INPUTS_ENV}=${forced} is not one of auto, copy, bind.`,
        `Unset ${INPUTS_ENV} or set it to auto, copy or bind.`,
      );
    }
    return { mode: forced as InputsMode, by: `${INPUTS_ENV}=${forced}` };
  }
  return { mode: spec.inputs, by: `build_runner_opts inputs: :${spec.inputs}` };
}

/** The transport of a job's inputs (a checked bind may still fall back to copy once the container exists). */
export async function chooseInputs(job: InputsContext, env: NodeJS.ProcessEnv = process.env): Promise<InputTransport> {
  const { mode, by } = inputsMode(job.spec, env);
  if (mode === 'copy') return copyInputs(job, by);
  if (mode === 'bind') return trustedBind(by);
  if (envFlag(env[REMOTE_OK_ENV])) return trustedBind(`${REMOTE_OK_ENV}=1: the engine sees this machine's paths`);
  const where = await engineLocality(job.engine, env);
  if (!where.local) return copyInputs(job, where.reason);
  const { inputs, release } = await checkedBind(job.spec, `${where.reason} (checked with a token file)`);
  job.scope.hold({ label: 'visibility token', close: release });
  return inputs;
}

/** Auto's bind turned out not to be seen by the engine: say so in one line, and copy instead. */
export function fallBackToCopy(job: InputsContext, err: InputsNotVisible): Promise<InputTransport> {
  job.reporter.info(
    `The engine at ${job.engine.where} does not see this machine's files (${err.path}: ${err.reason}); copying the inputs into volumes on the engine instead.`,
  );
  return copyInputs(job, `the engine does not see ${err.path}`);
}
