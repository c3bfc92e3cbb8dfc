// One local port on 127.0.0.1 that serves both TLS and plain HTTP (told
// apart by the first byte), for the registry tests that cross schemes:
// https://127.0.0.1:P and http://127.0.0.1:P are the same host and port in
// two schemes. The certificate below is self-signed for 127.0.0.1 (valid
// 2000 to 2100; its key was made for these tests and protects nothing) and
// is trusted through https.globalAgent while a server is up.
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';

const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqWnC0yWLtHlD1kNt
RIfiMjiqimQ9/FeUXGi+I6bZ40qhRANCAATGfIbwu97jYL+f3RVlRbUxK5ade1s7
xTBY6vEhXCRsMyBsY53tl/2NBFvlTQ4UPieo8VuIaYqvguoe3SRMeHn5
-----END PRIVATE KEY-----
`;
const CERT = `-----BEGIN CERTIFICATE-----
MIIBTjCB9qADAgECAhREIhjYRdrJvCHg2Ban3sWuX+Aw1DAKBggqhkjOPQQDAjAU
MRIwEAYDVQQDDAkxMjcuMC4wLjEwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEw
MDAwMDBaMBQxEjAQBgNVBAMMCTEyNy4wLjAuMTBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABMZ8hvC73uNgv5/dFWVFtTErlp17WzvFMFjq8SFcJGwzIGxjne2X/Y0E
W+VNDhQ+J6jxW4hpiq+C6h7dJEx4efmjJDAiMA8GA1UdEQQIMAaHBH8AAAEwDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiASSzUKB29YMkYdW27H7Kuf
kIJAp9/M4s0ZrP0vV5IYoQIgDRHjcC5amFBdoHzTqvyLCH974FhTgLQGl3rehQKB
sFY=
-----END CERTIFICATE-----
`;

export interface Seen {
  path: string;
  tls: boolean;
  authorization?: string;
}

export interface TlsPlainServer {
  /** "127.0.0.1:PORT". */
  host: string;
  /** Every request so far, in order. */
  seen: Seen[];
  stop(): Promise<void>;
}

/** Starts the server with `handle` behind both schemes. */
export async function startTlsPlainServer(handle: http.RequestListener): Promise<TlsPlainServer> {
  const seen: Seen[] = [];
  const record: http.RequestListener = (req, res) => {
    const tls = (req.socket as { encrypted?: boolean }).encrypted === true;
    seen.push({ path: req.url ?? '', tls, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    handle(req, res);
  };
  const plain = http.createServer(record);
  const secure = https.createServer({ key: KEY, cert: CERT }, record);
  const sockets = new Set<Socket>();
  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', (first) => {
      socket.pause();
      socket.unshift(first);
      (first[0] === 0x16 ? secure : plain).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
  const savedCa = https.globalAgent.options.ca;
  https.globalAgent.options.ca = CERT;
  return {
    host: `127.0.0.1:${(front.address() as AddressInfo).port}`,
    seen,
    stop: async () => {
      https.globalAgent.options.ca = savedCa;
      for (const s of sockets) s.destroy();
      await new Promise((r) => front.close(r));
    },
  };
}
