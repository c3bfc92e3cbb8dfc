// StdioSocket (an ssh child as the engine connection) with a real child
// process in ssh's place: once ssh has exited after the engine had answered
// (its master gone with the link), a write fails with how ssh ended and what
// it said, not a bare "write EPIPE".
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { StdioSocket } from '../../src/engine/ssh/stdio-socket.js';
import { SshError } from '../../src/engine/ssh/master.js';

/** A child that answers once (as the engine would), then says what a mux client says when its master is gone and exits 255. */
function dyingSsh() {
  return spawn('sh', ['-c', 'read line; echo answered; echo "mux_client_read_packet: read header failed: Broken pipe" >&2; exit 255'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function write(socket: StdioSocket, text: string): Promise<void> {
  return new Promise((resolve, reject) => socket.write(text, (err) => (err ? reject(err) : resolve())));
}

describe('StdioSocket', () => {
  it("a write after ssh exited fails with ssh's exit status and its last words", async () => {
    const child = dyingSsh();
    const socket = new StdioSocket(child, 'ssh builder docker system dial-stdio');
    socket.on('error', () => {});
    const answered = new Promise((resolve) => socket.once('data', resolve));
    await write(socket, 'GET /_ping\n');
    expect(String(await answered)).toBe('answered\n');
    await new Promise((resolve) => child.once('exit', resolve));
    let err: unknown;
    // The pipe may take a write or two before it says EPIPE.
    for (let i = 0; i < 50 && !err; i++) await write(socket, 'x'.repeat(65536)).catch((e: unknown) => (err = e));
    expect(err).toBeInstanceOf(SshError);
    expect((err as Error).message).toBe(
      'ssh builder docker system dial-stdio ended (exit status 255): mux_client_read_packet: read header failed: Broken pipe',
    );
    socket.destroy();
  });
});
