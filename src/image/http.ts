// A small HTTP(S) client for the registry API: redirects followed (the
// Authorization header is dropped when the host changes), TLS verification
// switchable, bodies as buffers or streams.
import http from "node:http";
import https from "node:https";
import type { IncomingMessage } from "node:http";
import { OpError } from "../errors.js";

export interface HttpResponse {
  status: number;
  headers: IncomingMessage["headers"];
  url: string;
  body: IncomingMessage;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  tlsVerify?: boolean;
  maxRedirects?: number;
  timeoutMs?: number;
}

const NETWORK_HINT = "Check the network, the registry's address and, for a registry without a trusted certificate, tlsVerify.";

export function request(url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  const u = new URL(url);
  const lib = u.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(u, { method: "GET", headers: opts.headers ?? {}, ...(u.protocol === "https:" ? { rejectUnauthorized: opts.tlsVerify !== false } : {}) }, (res) => {
      const status = res.statusCode ?? 0;
      const loc = res.headers.location;
      if (status >= 300 && status < 400 && loc) {
        res.resume();
        const left = opts.maxRedirects ?? 5;
        if (left <= 0) return reject(new OpError("registry_request", `too many redirects fetching ${url}`, "The registry redirects in a loop: check its address."));
        const next = new URL(loc, u);
        const headers = { ...(opts.headers ?? {}) };
        if (next.host !== u.host) delete headers.Authorization;
        request(next.toString(), { ...opts, headers, maxRedirects: left - 1 }).then(resolve, reject);
        return;
      }
      resolve({ status, headers: res.headers, url, body: res });
    });
    req.setTimeout(opts.timeoutMs ?? 60_000, () => req.destroy(new OpError("registry_request", `timeout fetching ${url}`, NETWORK_HINT)));
    req.on("error", (err) => reject(err instanceof OpError ? err : new OpError("registry_request", `cannot fetch ${url}: ${err.message}`, NETWORK_HINT)));
    req.end();
  });
}

export async function readBody(res: HttpResponse, limit = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body) {
    size += (c as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw new OpError("registry_image", `response from ${res.url} is larger than ${limit} bytes`, "The registry sent something else than it was asked for: check its address.");
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
