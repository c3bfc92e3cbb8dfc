// A link to a tcp:// engine that dies silently in the middle of a step: no
// close, no reset, nothing at all comes back (a laptop's Wi-Fi gone, a VPN
// dropped, a build server powered off). Without a cancel, the build must
// still end in bounded time, said as a lost connection, instead of waiting
// forever on a socket that will never speak again.
//
// All on this machine: the sidecar and a TCP forwarder to the engine's unix
// socket run in a network namespace of the test's own (`unshare -n`, its own
// loopback), and the link dies by an iptables rule that drops every TCP
// packet inside that namespace (the host's firewall is not touched). The
// forwarder plays dockerd's part of a tcp:// engine: like Go's listeners it
// keeps TCP keep-alive on, and when its client is gone it closes the engine
// connection, which ends the build container.
import { execFileSync, spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SOCKET } from '../../../src/engine/connect.js';
import { LABEL } from '../../../src/engine/labels.js';
import { encodeMessage } from '../../../src/protocol/codec.js';
import { encodeFrame } from '../../../src/protocol/frame.js';
import { runJob } from '../../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../../src/runner/spec.js';
import { containersOf, docker, noContainersSoon, recorder, useExample } from '../helpers/example.js';
import { startSidecar } from '../helpers/sidecar-proc.js';
import { hasCommand } from './engine-helpers.js';
import { startSshd } from './sshd.js';

// TCP forwarder 127.0.0.1:0 -> the engine's unix socket; prints its port, then "upload" at the start of each
// upload (an archive into a container, an image load). Keep-alive on its accepted sockets, as dockerd's. argv[2]: bytes a second it passes towards the engine (0: all).
const FORWARDER = `
const net = require('node:net');
const rate = Number(process.argv[2] || 0);
const srv = net.createServer({ keepAlive: true, keepAliveInitialDelay: 5000 }, (c) => {
  const u = net.createConnection(process.argv[1]);
  const end = () => { c.destroy(); u.destroy(); };
  c.on('error', end).on('close', end);
  u.on('error', end).on('close', end);
  c.on('data', (chunk) => {
    if (/^(PUT \\S*\\/archive\\?|POST \\S*\\/images\\/load)/.test(chunk.subarray(0, 512).toString('latin1'))) console.log('upload');
    u.write(chunk);
    if (rate) {
      c.pause();
      setTimeout(() => c.resume(), (chunk.length / rate) * 1000);
    }
  });
  u.pipe(c);
});
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
`;

/** A child's stdout, line by line: the next line, or the next that matches. */
class Lines {
  private readonly seen: string[] = [];
  private err = '';
  private waiters: Array<() => void> = [];
  private exited: number | null | undefined;

  constructor(child: ChildProcessWithoutNullStreams) {
    let out = '';
    child.stderr.on('data', (c: Buffer) => (this.err += c.toString()));
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const parts = out.split('\n');
      out = parts.pop()!;
      this.seen.push(...parts);
      for (const w of this.waiters.splice(0)) w();
    });
    child.once('exit', (code) => {
      this.exited = code;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** The first line not taken yet that matches. */
  next(pattern = /^/): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.seen.findIndex((l) => pattern.test(l));
        if (i >= 0) resolve(this.seen.splice(0, i + 1).pop()!);
        else if (this.exited !== undefined) reject(new Error(`exited with ${this.exited} before a line ${pattern}: ${this.err}`));
        else this.waiters.push(check);
      };
      check();
    });
  }
}

interface Namespace {
  holder: ChildProcess;
  /** The argv prefix that runs a command inside the namespace. */
  wrap: string[];
  /** Kills the processes in the namespace whose command name is one of `names`. */
  kill(names: string[]): void;
  /** Runs argv inside the namespace. */
  spawnIn(argv: string[], env?: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams;
  /** The link dies: every TCP packet in the namespace dropped, both ways (the host's firewall is not touched). */
  dropLink(): Promise<unknown>;
  /** The link back: that rule removed. */
  restoreLink(): Promise<unknown>;
}

async function newNetworkNamespace(): Promise<Namespace> {
  const holder = spawn('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up && echo up && exec sleep 3600'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  expect(await new Lines(holder).next()).toBe('up');
  const pid = holder.pid!;
  const wrap = ['nsenter', `--net=/proc/${pid}/ns/net`, '--'];
  const spawnIn = (argv: string[], env: NodeJS.ProcessEnv = process.env) =>
    spawn(wrap[0]!, [...wrap.slice(1), ...argv], { stdio: ['pipe', 'pipe', 'pipe'], env });
  return {
    holder,
    wrap,
    kill: (names) => {
      const ours = readlinkSync(`/proc/${pid}/ns/net`);
      for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
        try {
          if (readlinkSync(`/proc/${p}/ns/net`) === ours && names.includes(readFileSync(`/proc/${p}/comm`, 'utf8').trim()))
            process.kill(Number(p), 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    },
    spawnIn,
    dropLink: () => run(spawnIn(['iptables', '-I', 'INPUT', '-p', 'tcp', '-j', 'DROP'])),
    restoreLink: () => run(spawnIn(['iptables', '-D', 'INPUT', '-p', 'tcp', '-j', 'DROP'])),
  };
}

function run(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(err) : reject(new Error(`exit ${code}: ${err}`))));
  });
}

const MB = 1 << 20;
const CLI = resolve(import.meta.dirname, '../../../priv/nerves-docker.mjs');

describe('a tcp:// or ssh:// engine whose link dies silently (a network namespace of its own, packets dropped)', () => {
  const fx = useExample('ndt-deadlink-');
  let ns: Namespace;
  let forwarder: ChildProcessWithoutNullStreams;
  let throttled: ChildProcessWithoutNullStreams;
  let throttledLines: Lines;
  let throttledPort: number;
  let forwarderPort: number;
  let sidecar: ChildProcess | null = null;

  beforeAll(async () => {
    for (const cmd of ['unshare', 'nsenter', 'iptables', 'ip'])
      if (!hasCommand(cmd)) throw new Error(`the dead-link test needs ${cmd} (util-linux, iptables, iproute2)`);
    if (process.getuid?.() !== 0) throw new Error('the dead-link test makes a network namespace: run it as root');
    ns = await newNetworkNamespace();
    forwarder = ns.spawnIn(['node', '-e', FORWARDER, DEFAULT_SOCKET]);
    throttled = ns.spawnIn(['node', '-e', FORWARDER, DEFAULT_SOCKET, String(2 * MB)]);
    throttledLines = new Lines(throttled);
    throttledPort = Number(await throttledLines.next());
    forwarderPort = Number(await new Lines(forwarder).next());
  });

  afterAll(async () => {
    sidecar?.kill('SIGKILL');
    forwarder?.kill('SIGKILL');
    throttled?.kill('SIGKILL');
    ns?.holder.kill('SIGKILL');
  });

  /**
   * Builds in copy mode through the sidecar in the namespace; the link dies once `dying` resolves (by default: mid-step,
   * once make sleeps, the build's container seen running). The reply and how long it took from the link's death.
   */
  async function buildThenDeadLink(
    env: NodeJS.ProcessEnv,
    dying?: () => Promise<void>,
  ): Promise<{ error: { code: string; message: string; hint: string }; seconds: number; volume: string }> {
    const proc = startSidecar(undefined, { env, wrap: ns.wrap });
    sidecar = proc.child;
    const { waitFor } = proc;
    await waitFor((m) => 'hello' in m, 15_000);
    const spec = fx.ex.spec({ inputs: 'copy', make_args: ['SLEEP=900'] });
    proc.child.stdin.write(encodeFrame(encodeMessage({ id: 1, op: 'build', args: spec })));
    const volumeName = () => `${String(spec.app)}-${readFileSync(join(String(spec.build_path), '.docker_id'), 'utf8').trim()}`;
    if (dying) await dying();
    else {
      await waitFor((m) => m.id === 1 && m.event === 'headline' && /Sleeping/.test(String(m.data)), 120_000);
      // The build's container runs (seen by the test through the engine's own socket).
      expect(await containersOf({ [LABEL.volume]: volumeName() })).toHaveLength(1);
    }
    const volume = volumeName();
    await ns.dropLink();
    const t0 = Date.now();
    try {
      const reply = await waitFor((m) => m.id === 1 && ('error' in m || 'ok' in m), 400_000);
      const seconds = (Date.now() - t0) / 1000;
      console.log(`reply after ${seconds} s:`, JSON.stringify(reply));
      return { error: reply.error as { code: string; message: string; hint: string }, seconds, volume };
    } finally {
      await ns.restoreLink();
      sidecar.kill('SIGKILL');
    }
  }

  it('tcp://: without a cancel, the build fails within 75 s as an engine that stopped answering, the link named in the hint; the container goes', async () => {
    const { error, seconds, volume } = await buildThenDeadLink({ ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${forwarderPort}` });
    // From here a dead link and a dead engine look the same: the engine stopped answering; the hint says both.
    expect(error.code).toBe('engine_lost');
    expect(error.message).toMatch(/^The Docker engine at tcp:\/\/127\.0\.0\.1:\d+ stopped answering during the "make" step: .*ETIMEDOUT/);
    expect(error.hint).toMatch(
      /runs and that this machine still reaches it \(network, VPN, ssh\), then rerun the build; the build volume \S+ is kept/,
    );
    // Keep-alive (15 s idle, then 10 probes) ends the stream, a 10 s connect timeout the status request, 3 s the ping.
    expect(seconds).toBeLessThan(75);
    expect(await noContainersSoon({ [LABEL.volume]: volume }, 60_000)).toEqual([]);
  }, 300_000);

  it('ssh://: the same through the system ssh client and an sshd in the namespace', async () => {
    const sshd = await startSshd([], ns.wrap);
    let volume = '';
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: 'ssh://builder', PATH: `${sshd.bin}:${process.env.PATH ?? ''}` };
      delete env.SSH_AUTH_SOCK;
      const built = await buildThenDeadLink(env);
      volume = built.volume;
      expect(built.error.code).toBe('engine_lost');
      expect(built.error.hint).toMatch(/runs and that this machine still reaches it \(network, VPN, ssh\)/);
      // A write on a session whose ssh is gone says how ssh ended (it said "write EPIPE").
      expect(built.error.message).not.toMatch(/EPIPE/);
      // The master's keep-alive (three unanswered, 10 s apart, ~30-40 s) ends every session; the status request then
      // either fails on a dead session at once, or starts a new master that waits ssh's ConnectTimeout (30 s); then a
      // 3 s ping: 43 s and 73 s seen. With the keep-alive at 30 s it took 123 s and more.
      expect(built.seconds).toBeLessThan(100);
    } finally {
      // The sshd's side of a dead link lives on: its sessions keep `docker system dial-stdio`, so the engine
      // connection and the container, until the server's own keep-alive notices (hours by default). Ended here.
      await sshd.stop();
      ns.kill(['sshd', 'docker']);
    }
    expect(await noContainersSoon({ [LABEL.volume]: volume }, 60_000)).toEqual([]);
  }, 600_000);

  it("tcp://: a link that dies during the inputs' upload fails the build within 90 s (the engine pinged), not the kernel's ~15 minutes", async () => {
    const [lines, port] = [throttledLines, throttledPort];
    // 48 MiB more in the platform, sent at 2 MiB/s: the link dies a few seconds into that upload.
    writeFileSync(join(fx.ex.platform, 'support/bulk.bin'), randomBytes(48 * MB));
    const { error, seconds, volume } = await buildThenDeadLink({ ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${port}` }, async () => {
      await lines.next(/^upload$/);
      await new Promise((r) => setTimeout(r, 3000));
    });
    expect(error.code).toBe('engine_lost');
    // The upload has heard nothing back since it began: 15 s after its start the engine is pinged, and two pings
    // without an answer (10 s each) end it, before the upload's own stall bound (60 s without progress).
    expect(error.message).toMatch(/stopped answering: nothing came back for 15 s after a write, and 2 pings in a row got no answer/);
    expect(error.hint).toMatch(/Run the build again/);
    // The pings, then the failure's own requests (a 10 s connect timeout each).
    expect(seconds).toBeLessThan(90);
    // The container made for the upload could not be removed over the dead link: the next build removes it, says
    // so, and resumes (here through the engine's own socket).
    const ctx = recorder(true);
    const result = await runJob('build', parseJobSpec(fx.ex.spec({ inputs: 'copy' })), ctx);
    expect(result.volume).toBe(volume);
    expect(ctx.of('warn').map(String).join('\n')).toMatch(/removing the container \w+ left by an earlier build/);
    expect(await noContainersSoon({ [LABEL.volume]: volume }, 10_000)).toEqual([]);
  }, 400_000);

  it("tcp://: a link that dies while an image streams into the engine (stream-layered-image --load) fails the load within 50 s, not the kernel's ~15 minutes", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ndt-deadlink-image-'));
    try {
      // 48 MiB of contents, sent at 2 MiB/s: the link dies a few seconds into the image's upload.
      mkdirSync(join(dir, 'data'));
      writeFileSync(join(dir, 'data/bulk.bin'), randomBytes(48 * MB));
      const env = { ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${throttledPort}` };
      const cli = ns.spawnIn(
        [process.execPath, CLI, 'image', 'stream-layered-image', '--name', 'ndt-test/deadlink', '--tag', 't1', '--contents', dir, '--load'],
        env,
      );
      let stderr = '';
      cli.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));
      await throttledLines.next(/^upload$/);
      await new Promise((r) => setTimeout(r, 3000));
      await ns.dropLink();
      const t0 = Date.now();
      let code: number | null;
      try {
        // Without a bound the upload waits for the kernel's retransmissions (~15 minutes): given up on here after 3.
        const late = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 180_000).unref());
        const first = await Promise.race([exited, late]);
        if (first === 'late') cli.kill('SIGKILL');
        code = first === 'late' ? null : first;
      } finally {
        await ns.restoreLink();
      }
      const seconds = (Date.now() - t0) / 1000;
      console.log(`the CLI exited with ${code} after ${seconds} s:`, stderr);
      expect(code).toBe(1);
      // Pinged 15 s after the upload began, two pings unanswered (10 s each): ~32 s after the drop. Without the pings
      // the upload's stall bound (60 s without progress) ends it; without either, the kernel's retransmissions.
      expect(stderr).toMatch(
        /docker load: the engine at 127\.0\.0\.1:\d+ stopped answering: nothing came back for 15 s after a write, and 2 pings in a row got no answer/,
      );
      expect(stderr).toMatch(/check that it runs \(`docker version`\)/);
      expect(seconds).toBeLessThan(50);
      // The engine got no manifest: nothing was loaded.
      await expect(new Docker({ socketPath: DEFAULT_SOCKET }).getImage('ndt-test/deadlink:t1').inspect()).rejects.toMatchObject({
        statusCode: 404,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 400_000);

  it('tcp://: keys typed into the system shell after the link died end the shell within 90 s (the engine pinged), said as a lost connection', async () => {
    if (!hasCommand('tmux')) throw new Error('the shell case needs tmux');
    const port = forwarderPort;
    const specFile = join(fx.ex.dir, 'shell-spec.json');
    writeFileSync(specFile, JSON.stringify(fx.ex.spec({ inputs: 'copy' })));
    // The CLI's shell reads its terminal itself: a tmux pane, the CLI in the namespace (argv through bash's "$@").
    const tmuxSocket = `ndt-deadlink-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', tmuxSocket, ...args], { encoding: 'utf8' });
    const script = '"$@"; echo "EXIT=$?"; sleep 600';
    const argv = [...ns.wrap, process.execPath, CLI, 'shell', '--spec', specFile];
    tmux(
      'new-session',
      '-d',
      '-s',
      'dl',
      '-x',
      '100',
      '-y',
      '30',
      '-e',
      `DOCKER_HOST=tcp://127.0.0.1:${port}`,
      '-e',
      'TERM=xterm-256color',
      '-e',
      'NERVES_DOCKER_TS_YES=1',
      '--',
      'bash',
      '--norc',
      '-c',
      script,
      'bash',
      ...argv,
    );
    const screen = () => tmux('capture-pane', '-p', '-J', '-t', 'dl', '-S', '-300');
    const waitFor = async (re: RegExp, ms: number) => {
      const until = Date.now() + ms;
      while (!re.test(screen())) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${re}:\n${screen()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      return screen();
    };
    const type = (line: string) => {
      tmux('send-keys', '-t', 'dl', '-l', line);
      tmux('send-keys', '-t', 'dl', 'Enter');
    };
    try {
      await waitFor(/ Nerves +project > *$/m, 150_000);
      type('echo "ALIVE-$((40+2))"');
      await waitFor(/^ALIVE-42$/m, 15_000);
      await ns.dropLink();
      const t0 = Date.now();
      let text: string;
      try {
        // The keys go out and nothing comes back: without the pings, the kernel's retransmissions (~15 minutes).
        type('echo "GONE-$((40+2))"');
        text = await waitFor(/^EXIT=\d+$/m, 150_000);
      } finally {
        await ns.restoreLink();
      }
      const seconds = (Date.now() - t0) / 1000;
      console.log(`the shell ended after ${seconds} s:\n${text.trim().split('\n').slice(-6).join('\n')}`);
      expect(text).toMatch(
        /The connection to the shell in the build container was lost: the engine at 127\.0\.0\.1:\d+ stopped answering: nothing came back for 15 s after a write, and 2 pings in a row got no answer/,
      );
      expect(text).toMatch(/then open the shell again; the build volume is kept/);
      expect(text).not.toMatch(/^GONE-42$/m);
      // 15 s of silence after the keys, two pings of 10 s, then the container's removal, which cannot reach the
      // engine either (a 10 s connect timeout per try).
      expect(seconds).toBeLessThan(90);
    } finally {
      try {
        tmux('kill-server');
      } catch {
        // gone already
      }
      for (const c of await containersOf({ [LABEL.kind]: 'shell' }))
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => {});
    }
  }, 400_000);
});
