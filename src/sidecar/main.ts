// Entry point of the sidecar process that the Mix plugin starts through an
// Erlang port: frames on stdin/stdout, diagnostics on stderr only.
import { SidecarServer } from './server.js';

export function main(): void {
  const server = new SidecarServer({
    input: process.stdin,
    output: process.stdout,
    onStop: (_reason, code) => {
      // The plugin is gone or the stream is unusable: nothing left to drain.
      process.exit(code);
    },
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => void server.stop('signal', 128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)));
  }
  server.start();
}
