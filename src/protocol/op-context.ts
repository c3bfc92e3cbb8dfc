// What an op handler gets: its arguments' companions for talking back to the
// plugin (events, prompts), a cancellation signal and the cleanup registry.
import type { CleanupRegistry } from './cleanup.js';
import type { EventName, RequestId } from './messages.js';

export interface OpContext {
  readonly id: RequestId;
  /** Aborted when the plugin cancels the request or the sidecar shuts down. */
  readonly signal: AbortSignal;
  readonly cleanup: CleanupRegistry;
  emit(event: EventName, data: unknown): void;
  /** Asks the user through the plugin (Mix.shell().yes? for kind "yes"). */
  prompt(message: string, kind?: 'yes'): Promise<unknown>;
  /** Diagnostic line for stderr (never stdout: stdout carries frames). */
  debug(line: string): void;
}

export type OpHandler = (args: unknown, ctx: OpContext) => Promise<unknown>;
