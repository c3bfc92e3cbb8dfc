// Registry HTTP API v2 client for pulling: the bearer token challenge
// (anonymous or with credentials), basic auth, manifests by digest and blobs;
// plain HTTP is only tried when tlsVerify is false. Which registry and
// repository a name means is reference.ts's business.
import { readBody, request, type HttpResponse } from "./http.js";
import type { RepositoryLocation } from "./reference.js";

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  tlsVerify?: boolean;
  credentials?: Credentials;
}

function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^(\w+)\s*(.*)$/.exec(header.trim());
  const params: Record<string, string> = {};
  for (const p of (m?.[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)) params[p[1]!] = p[2]!;
  return { scheme: (m?.[1] ?? "").toLowerCase(), params };
}

export class RegistryClient {
  private base: string | undefined;
  private auth: string | undefined;

  constructor(readonly ref: RepositoryLocation, private readonly opts: RegistryOptions = {}) {}

  private async baseUrl(): Promise<string> {
    if (this.base) return this.base;
    const https = `https://${this.ref.registry}`;
    if (this.opts.tlsVerify !== false) return (this.base = https);
    try {
      const res = await request(`${https}/v2/`, { tlsVerify: false, timeoutMs: 10_000 });
      res.body.resume();
      return (this.base = https);
    } catch {
      return (this.base = `http://${this.ref.registry}`);
    }
  }

  private async authenticate(challenge: string): Promise<void> {
    const { scheme, params } = parseChallenge(challenge);
    const cred = this.opts.credentials;
    if (scheme === "basic") {
      if (!cred) throw new Error(`registry ${this.ref.registry} wants basic auth: give credentials`);
      this.auth = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString("base64")}`;
      return;
    }
    if (scheme !== "bearer" || !params.realm) throw new Error(`registry ${this.ref.registry}: unsupported auth challenge "${challenge}"`);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set("service", params.service);
    url.searchParams.set("scope", params.scope ?? `repository:${this.ref.repository}:pull`);
    const headers: Record<string, string> = {};
    if (cred) headers.Authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString("base64")}`;
    const res = await request(url.toString(), { headers, tlsVerify: this.opts.tlsVerify !== false });
    const body = await readBody(res);
    if (res.status !== 200) throw new Error(`token request to ${url.origin}${url.pathname} failed: HTTP ${res.status} ${body.toString().slice(0, 200)}`);
    const json = JSON.parse(body.toString()) as { token?: string; access_token?: string };
    const token = json.token ?? json.access_token;
    if (!token) throw new Error(`token response from ${url.origin} has no token`);
    this.auth = `Bearer ${token}`;
  }

  /** GET a registry path, answering one auth challenge. */
  async get(path: string, accept?: string): Promise<HttpResponse> {
    const base = await this.baseUrl();
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {};
      if (accept) headers.Accept = accept;
      if (this.auth) headers.Authorization = this.auth;
      const res = await request(`${base}/v2/${this.ref.repository}/${path}`, { headers, tlsVerify: this.opts.tlsVerify !== false });
      if (res.status === 401 && attempt === 0 && res.headers["www-authenticate"]) {
        res.body.resume();
        await this.authenticate(String(res.headers["www-authenticate"]));
        continue;
      }
      if (res.status !== 200) {
        const text = (await readBody(res).catch(() => Buffer.alloc(0))).toString().slice(0, 300);
        throw new Error(`registry ${this.ref.registry}: GET ${this.ref.repository}/${path} failed: HTTP ${res.status} ${text}`);
      }
      return res;
    }
  }
}

export const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");
