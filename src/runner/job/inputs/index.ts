// How the job's inputs reach the build container: the system package, its
// platform (nerves_system_br), Buildroot's download dir and ~/.ssh. One
// module per transport in this folder (the interface: transport.ts); today
// the only one is `bind` (bind mounts of this machine's directories, for
// engines that see them).
import type { JobSpec } from '../../spec.js';
import { bindInputs } from './bind.js';
import type { InputTransport } from './transport.js';

export type { InputTransport } from './transport.js';

/** The transport of a job's inputs. */
export function chooseInputs(_spec: JobSpec): InputTransport {
  return bindInputs;
}
