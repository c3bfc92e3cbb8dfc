// A profiling aid: a unix-socket proxy in front of the Docker engine that
// records, per connection, when each HTTP request starts (method and path)
// and when its response head arrives. Point DOCKER_HOST at it.
//
//   const t = await startEngineTrace();  // then run the sidecar with DOCKER_HOST=t.host
//   console.log(t.report()); await t.close();
//
// Used by bench/profile-build.mjs.
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const METHOD = /^(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP\/1\.[01]/;

export async function startEngineTrace(target = (process.env.DOCKER_HOST || 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '')) {
  const dir = mkdtempSync(join(tmpdir(), 'ndt-trace-'));
  const path = join(dir, 'engine.sock');
  const t0 = performance.now();
  const events = [];
  let conns = 0;
  const server = createServer((client) => {
    const conn = ++conns;
    const upstream = createConnection(target);
    const pending = [];
    client.on('data', (c) => {
      const m = METHOD.exec(c.subarray(0, 512).toString('latin1'));
      if (m) {
        const e = {
          conn,
          method: m[1],
          path: m[2].replace(/\?.*$/, (q) => (q.length > 60 ? `${q.slice(0, 60)}...` : q)),
          start: performance.now() - t0,
          head: NaN,
        };
        events.push(e);
        pending.push(e);
      }
      upstream.write(c);
    });
    upstream.on('data', (c) => {
      if (c.subarray(0, 5).toString('latin1') === 'HTTP/') {
        const e = pending.shift();
        if (e) e.head = performance.now() - t0;
      }
      client.write(c);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise((res) => server.listen(path, res));
  return {
    host: `unix://${path}`,
    events,
    reset() {
      events.length = 0;
    },
    /** One line per request: start ms, response-head ms, duration, method, path. */
    report(since = 0) {
      return events
        .filter((e) => e.start >= since)
        .map(
          (e) =>
            `${e.start.toFixed(0).padStart(7)} ms  +${(e.head - e.start).toFixed(0).padStart(5)} ms  c${String(e.conn).padEnd(3)} ${e.method.padEnd(6)} ${e.path}`,
        )
        .join('\n');
    },
    now: () => performance.now() - t0,
    async close() {
      await new Promise((res) => server.close(res));
      server.unref();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
