// Entry point of the sidecar process that the Mix plugin starts through an
// Erlang port: frames on stdin/stdout, diagnostics on stderr only.
import { notice } from '../protocol/notice.js';
import { SidecarServer } from './server.js';

export function main(): void {
  const server = new SidecarServer({
    input: process.stdin,
    output: process.stdout,
    onStop: (_reason, code) => {
      // The plugin is gone or the stream is unusable: nothing left to drain.
      process.exit(code);
    },
    onInterrupted: (reason, ops) => {
      // The plugin may be gone (EOF, a signal): tell the user directly what happened to the work.
      const job = ops.find((op) => op === 'build' || op === 'archive' || op === 'shell');
      if (reason !== 'framing' && job) {
        notice(
          `nerves_docker_ts: the ${job} was interrupted; its container was removed and the build volume kept (the next build resumes).`,
        );
      }
    },
  });
  // SIGINT (kill -INT, or a terminal's Ctrl-C when the sidecar runs in its
  // foreground process group): stop the work, reply, and let the plugin (or
  // stdin's end) close us. Under the Mix plugin the port runs in a session of
  // its own, so a Ctrl-C goes to the BEAM (its break menu) and the sidecar
  // hears of an abort by stdin's end.
  process.on('SIGINT', () => server.interrupt());
  process.on('SIGTERM', () => void server.stop('signal', 143));
  process.on('SIGHUP', () => void server.stop('signal', 129));
  server.start();
  // The hello is out; the plugin sends its request as soon as it has the
  // job spec. Meanwhile: load the engine client and start the engine's ping
  // and GET /version (~30 ms on dockerd), then load the rest of the runner
  // while they are answered, so the request finds both ready. A failure here
  // shows up again when an op needs it.
  setImmediate(
    () =>
      void import('../runner/job/preflight.js')
        .then((preflight) => {
          preflight.warmUpEngine();
          return import('../runner/ops.js');
        })
        .catch(() => {}),
  );
}
