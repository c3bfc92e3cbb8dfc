// The one error class of nerves-docker-ts: an error a user can meet, thrown
// on purpose, with a code, a message and a hint (what to do). It reaches Mix
// as code, message and hint, and the CLI as an exit code derived from the
// code's family. Every code is listed once below with its family; a code
// that is not in the table does not compile.

/** What kind of failure a code is; the CLI's exit code follows from it. */
export type ErrorFamily = 'usage' | 'invalid_input' | 'engine' | 'lock' | 'interrupted' | 'failed';

/** The exit code of nerves-docker for each family (documented in README). */
export const FAMILY_EXIT: Readonly<Record<ErrorFamily, number>> = {
  usage: 64,
  invalid_input: 65,
  engine: 69,
  lock: 75,
  interrupted: 130,
  failed: 1,
};

/** Every error code and its family. Codes that reach Mix keep their strings. */
const FAMILIES = {
  // the command line
  usage: 'usage',
  // what the user gave: the job spec, the package, the environment, image options
  invalid_spec: 'invalid_input',
  defconfig_missing: 'invalid_input',
  platform_missing: 'invalid_input',
  download_dir: 'invalid_input',
  clean_refused: 'invalid_input',
  dockerfile_missing: 'invalid_input',
  image_archive_missing: 'invalid_input',
  image_name: 'invalid_input',
  image_options: 'invalid_input',
  image_reference: 'invalid_input',
  image_platform: 'invalid_input',
  base_image: 'invalid_input',
  archive_format: 'invalid_input',
  output_exists: 'invalid_input',
  input_missing: 'invalid_input',
  input_path: 'invalid_input',
  shadow_conflict: 'invalid_input',
  run_as_root_shell: 'invalid_input',
  // NERVES_DOCKER_TS_CPUS=abc and the like: the same value in the spec is invalid_spec
  invalid_env: 'invalid_input',
  // the engine: cannot be reached, is too old, or answers what it should not
  engine_unavailable: 'engine',
  engine_address: 'engine',
  engine_context: 'engine',
  inputs_not_visible: 'engine',
  inputs_sync: 'failed',
  engine_tls: 'engine',
  engine_ssh: 'engine',
  engine_version: 'engine',
  engine_lost: 'engine',
  engine_answer: 'engine',
  // another build of the package holds its lock
  locked: 'lock',
  // Ctrl-C, a signal, a cancel from Mix
  interrupted: 'interrupted',
  // everything else that went wrong
  no_tty: 'failed',
  log_file: 'failed',
  image_pull: 'failed',
  image_load: 'failed',
  image_build: 'failed',
  image_declined: 'failed',
  image_digest: 'failed',
  registry_auth: 'failed',
  registry_request: 'failed',
  registry_image: 'failed',
  inputs_changed: 'failed',
  run_as_root: 'failed',
  extra_commands: 'failed',
  stream_error: 'failed',
  input_sync: 'failed',
  volume_create: 'failed',
  volume_remove: 'failed',
  container_create: 'failed',
  container_start: 'failed',
  container_exec: 'failed',
  container_stopped: 'failed',
  step_failed: 'failed',
  checks_failed: 'failed',
  step_out_of_memory: 'failed',
  step_output: 'failed',
  step_driver_lost: 'failed',
  artifact_corrupt: 'failed',
  artifact_transfer: 'failed',
  artifact_missing: 'failed',
  shell_setup: 'failed',
  shell_exec: 'failed',
  shell_lost: 'failed',
  shell_bring_back: 'failed',
  no_session: 'failed',
  // the sidecar protocol
  bad_frame: 'failed',
  frame_too_large: 'failed',
  bad_request: 'failed',
  unknown_op: 'failed',
  package_broken: 'failed',
  internal: 'failed',
} as const satisfies Record<string, ErrorFamily>;

export type ErrorCode = keyof typeof FAMILIES;

export const ERROR_CODES = Object.keys(FAMILIES) as ErrorCode[];

export class OpError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint: string | null = null,
  ) {
    super(message);
  }
}

/** A usage error of a CLI command: OpError with the code `usage`. */
export function usageError(message: string, hint: string | null = null): OpError {
  return new OpError('usage', message, hint);
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(FAMILIES, code);
}

/** The family of a code; a code from elsewhere (an errno, another program) is `failed`. */
export function familyOf(code: string): ErrorFamily {
  return isErrorCode(code) ? FAMILIES[code] : 'failed';
}

/** Exit codes of nerves-docker (documented in README), derived from FAMILY_EXIT. */
export const EXIT = {
  ok: 0,
  failed: FAMILY_EXIT.failed,
  usage: FAMILY_EXIT.usage,
  invalidInput: FAMILY_EXIT.invalid_input,
  engine: FAMILY_EXIT.engine,
  locked: FAMILY_EXIT.lock,
  interrupted: FAMILY_EXIT.interrupted,
} as const;

/** The CLI's exit code for an error code. */
export function exitCodeFor(code: string): number {
  return FAMILY_EXIT[familyOf(code)];
}

/**
 * Where a text that JSON.parse refused goes wrong, without quoting it (V8's
 * message quotes the start of the text, which may be a key file given by
 * mistake): "at line L, column C", "it ends too early", or nothing more.
 */
export function jsonFault(err: unknown, text: string): string {
  const message = err instanceof Error ? err.message : '';
  const at = /at position (\d+)/.exec(message);
  if (at) {
    const before = text.slice(0, Number(at[1]));
    const line = before.split('\n').length;
    return `at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
  }
  if (/end of JSON input/.test(message)) return 'it ends too early';
  // "Unexpected token 'x', \"...\" is not valid JSON": the first character that is not JSON.
  const first = text.search(/\S/);
  return first < 0 ? 'it is empty' : `at line ${text.slice(0, first).split('\n').length}`;
}
