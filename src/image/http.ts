// A small HTTP(S) client for the registry API: redirects followed (the
// Authorization header is dropped when the host changes), TLS verification
// switchable, bodies as buffers or streams.
import http from "node:http";
import https from "node:https";
import type { IncomingMessage } from "node:http";

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
        if (left <= 0) return reject(new Error(`too many redirects fetching ${url}`));
        const next = new URL(loc, u);
        const headers = { ...(opts.headers ?? {}) };
        if (next.host !== u.host) delete headers.Authorization;
        request(next.toString(), { ...opts, headers, maxRedirects: left - 1 }).then(resolve, reject);
        return;
      }
      resolve({ status, headers: res.headers, url, body: res });
    });
    req.setTimeout(opts.timeoutMs ?? 60_000, () => req.destroy(new Error(`timeout fetching ${url}`)));
    req.on("error", reject);
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
      throw new Error(`response from ${res.url} is larger than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
