// Stopping a build with an AbortSignal (the CLI aborts one on SIGINT, SIGTERM
// and SIGHUP). The builders check it between steps and hand it to what waits
// (the runAsRoot container, host scripts, the engine's load and save, the
// output's writes); each step's own cleanup removes what it made, and the
// build rejects with the signal's reason, whatever error the stop caused on
// the way (a cut pipe, a killed script).

/**
 * Runs a build: once `signal` is aborted, the build rejects with its reason.
 * A build that finished before the abort was seen keeps its result.
 */
export async function stoppable<T>(signal: AbortSignal | undefined, build: () => Promise<T>): Promise<T> {
  try {
    signal?.throwIfAborted();
    return await build();
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}

/** The same bytes, failing with the signal's reason at the first chunk after an abort (what measures or uploads a layer stops). */
export function untilAborted(source: AsyncIterable<Buffer>, signal: AbortSignal | undefined): AsyncIterable<Buffer> {
  return signal ? checked(source, signal) : source;
}

async function* checked(source: AsyncIterable<Buffer>, signal: AbortSignal): AsyncIterable<Buffer> {
  for await (const chunk of source) {
    signal.throwIfAborted();
    yield chunk;
  }
  signal.throwIfAborted();
}
