// The error a build or check rejects (or throws) with; a test fails when it succeeds.
import type { OpError } from '../../../src/errors.js';

export async function failure(run: Promise<unknown> | (() => unknown)): Promise<OpError> {
  try {
    await (typeof run === 'function' ? run() : run);
  } catch (err) {
    return err as OpError;
  }
  throw new Error('expected a failure');
}
