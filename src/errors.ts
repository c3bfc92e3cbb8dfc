// The one error class of nerves-docker-ts: an error a user can meet, thrown
// on purpose, with a code, a message and a hint. It reaches Mix as code,
// message and hint, and the CLI as an exit code derived from the code.
export class OpError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string | null = null,
  ) {
    super(message);
  }
}
