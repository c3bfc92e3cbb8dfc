// The first stage of a job: the host's inputs checked, the build volume's
// name from .docker_id, the engine connected (its round trips run while
// this goes on), the package's lock taken, build.log opened and the status
// line started; each held by the job's scope. Also starts the choice of how
// steps will run, so that its FIFOs are made meanwhile.
import { join } from 'node:path';
import type { OpContext } from '../../protocol/op-context.js';
import { BuildLog } from '../output/build-log.js';
import { Reporter } from '../output/reporter.js';
import type { JobSpec } from '../spec.js';
import type { Job, JobKind } from './context.js';
import { readOrCreateDockerId, volumeName } from './docker-id.js';
import { acquireLock } from './lock.js';
import { beginConnect, checkHostInputs } from './preflight.js';
import type { JobScope } from './scope.js';
import { beginStepRunner, type PendingStepRunner } from './steps/index.js';

export async function openJob(
  kind: JobKind,
  spec: JobSpec,
  op: OpContext,
  scope: JobScope,
): Promise<{ job: Job; steps: PendingStepRunner }> {
  const started = Date.now();
  const reporter = new Reporter(op, spec.tty);
  // The engine's ping and GET /version run while the host side is checked.
  // An engine on another host is fine: the inputs are then copied (inputs/).
  const conn = beginConnect();
  const { engine } = conn;
  await checkHostInputs(spec, kind);
  const volume = volumeName(spec.app, await readOrCreateDockerId(spec.build_path, (t) => reporter.warn(t)));
  const steps = beginStepRunner(spec, engine, conn.version, scope);
  await conn.answered;
  const lock = await acquireLock(spec.build_path, kind, (t) => reporter.warn(t));
  scope.hold({ label: 'build lock', close: () => lock.release() });
  const name = kind === 'build' ? 'build.log' : 'archive.log';
  const log = await BuildLog.create(join(spec.log_dir, name), (h) => reporter.headline(h));
  scope.hold({ label: name, close: () => log.close() });
  reporter.start();
  scope.hold({ label: 'status line', close: () => reporter.stop() });
  const job: Job = { kind, spec, op, reporter, scope, engine, version: conn.version, volume, log, started, stage: 'prepare' };
  return { job, steps };
}
