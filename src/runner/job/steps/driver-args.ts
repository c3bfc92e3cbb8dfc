// How a plan's steps are handed to a POSIX sh driver in the build container
// (both drivers: sequence.ts's behind FIFOs, exec-driver.ts's in one exec):
// per step the count of its NAME=value pairs, its argc, the pairs and its
// argv, so that argument text is never spliced into a script. The driver
// turns them back into "$@" with STEP_ARGS_EVAL, which eval's only "${k}"
// references.
export interface DriverStep {
  cmd: string[];
  /** NAME=value pairs for this step only (set with env(1); cmd[0] must not hold "="). */
  env?: string[] | undefined;
}

/** The arguments for one step: count of pairs, argc, pairs, argv. */
export function stepArgs(step: DriverStep): string[] {
  const env = step.env ?? [];
  if (env.length && (step.cmd[0] ?? '').includes('=')) throw new Error(`a step with an environment cannot run ${step.cmd[0]}`);
  return [String(env.length), String(step.cmd.length), ...env, ...step.cmd];
}

/**
 * sh lines that set "refs" to the step's "${k}" references, with $e pairs
 * and $n arguments at the front of "$@" (eval "set -- $refs" in a subshell
 * then gives the step its argv).
 */
export const STEP_REFS = ['refs= k=1', 'while [ "$k" -le $((e + n)) ]; do refs="$refs \\"\\${$k}\\""; k=$((k + 1)); done'];

/** sh: the step's command with its pairs (env(1), not export: a shell may hold names such as UID read-only). */
export const STEP_EXEC = 'if [ "$e" -gt 0 ]; then exec env "$@"; else exec "$@"; fi';
