// Registry HTTP API v2 client for pulling: the bearer token challenge
// (anonymous or with credentials), basic auth, manifests by digest and blobs;
// plain HTTP is only tried when tlsVerify is false, and a registry reached
// over HTTPS gets its token over HTTPS only. Which registry and repository a
// name means is reference.ts's business.
import { readBody, request, type HttpResponse, type RequestOptions } from './http.js';
import type { TransferLimits } from './transfer-limits.js';
import type { RepositoryLocation } from './reference.js';
import { OpError } from '../errors.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  tlsVerify?: boolean;
  credentials?: Credentials;
  /** Deadline and minimum rate of every request (transfer-limits.ts). */
  limits?: TransferLimits;
  /** Aborts every request under way. */
  signal?: AbortSignal;
}

function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^(\w+)\s*(.*)$/.exec(header.trim());
  const params: Record<string, string> = {};
  for (const p of (m?.[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) params[p[1]!] = p[2]!;
  return { scheme: (m?.[1] ?? '').toLowerCase(), params };
}

/** What to do about a registry's HTTP status. */
function httpHint(status: number): string {
  if (status === 404) return 'Check the image name and the digest: the registry does not have them.';
  if (status === 401 || status === 403) return 'Give credentials that may pull this repository.';
  if (status === 429) return 'The registry limits pulls: wait, or log in to raise the limit.';
  return "Try again later; if it persists, check the registry's status.";
}

/** The start of an error body from a registry, on one line and without control characters (a terminal's escapes). */
function excerpt(body: Buffer, max: number): string {
  return body
    .toString('utf8')
    .slice(0, max)
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .trim();
}

/** JSON from a registry; a body that is not JSON is the registry's fault. */
export function parseJson(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    // Not the parser's message: it quotes the body.
    throw new OpError(
      'registry_image',
      `${what} is not JSON (${body.length} bytes)`,
      'The registry sent something else than it was asked for: check its address (a proxy or login page?).',
    );
  }
}

/**
 * The token service a bearer challenge names (its realm), checked before
 * anything is sent to it. A registry reached over HTTPS (always the case
 * while TLS is verified) must name an HTTPS realm: the credentials, and the
 * token, would otherwise go out unprotected (http.ts refuses a redirect off
 * HTTPS for the same reason). An HTTPS realm may be on another host (Docker
 * Hub's is auth.docker.io) and gets the credentials, as docker sends them.
 */
export function tokenRealm(realm: string, base: string, tlsVerify: boolean): URL {
  const registry = new URL(base).host;
  const refuse = (problem: string) =>
    new OpError(
      'registry_auth',
      `registry ${registry}: ${problem}`,
      "The registry's WWW-Authenticate challenge names where to get a token: check the registry's address; a registry reached over HTTPS must name an HTTPS token service (its realm).",
    );
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw refuse(`its token service ${JSON.stringify(realm.slice(0, 200))} is not a URL`);
  }
  const where = `${url.protocol}//${url.host}${url.pathname}`;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse(`its token service ${where} is not HTTP(S)`);
  if (url.protocol !== 'https:' && (tlsVerify || base.startsWith('https:')))
    throw refuse(`its token service ${where} is not HTTPS: refused, as the registry is reached over HTTPS`);
  return url;
}

export class RegistryClient {
  private base: string | undefined;
  private auth: string | undefined;

  constructor(
    readonly ref: RepositoryLocation,
    private readonly opts: RegistryOptions = {},
  ) {}

  /** What every request of this client shares: TLS, limits, the abort signal. */
  private common(): RequestOptions {
    return {
      tlsVerify: this.opts.tlsVerify !== false,
      ...(this.opts.limits ? { limits: this.opts.limits } : {}),
      ...(this.opts.signal ? { signal: this.opts.signal } : {}),
    };
  }

  private async baseUrl(): Promise<string> {
    if (this.base) return this.base;
    const https = `https://${this.ref.registry}`;
    if (this.opts.tlsVerify !== false) return (this.base = https);
    try {
      const res = await request(`${https}/v2/`, { ...this.common(), tlsVerify: false, timeoutMs: 10_000 });
      res.body.resume();
      return (this.base = https);
    } catch {
      return (this.base = `http://${this.ref.registry}`);
    }
  }

  private async authenticate(challenge: string): Promise<void> {
    const { scheme, params } = parseChallenge(challenge);
    const cred = this.opts.credentials;
    if (scheme === 'basic') {
      if (!cred)
        throw new OpError(
          'registry_auth',
          `registry ${this.ref.registry} wants basic auth: give credentials`,
          'Pass credentials ({username, password}) for this registry.',
        );
      this.auth = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
      return;
    }
    if (scheme !== 'bearer' || !params.realm)
      throw new OpError(
        'registry_auth',
        `registry ${this.ref.registry}: unsupported auth challenge "${challenge}"`,
        'Only basic and bearer token auth are supported: pull the image with `docker pull` and use the archive instead.',
      );
    const url = tokenRealm(params.realm, await this.baseUrl(), this.opts.tlsVerify !== false);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${this.ref.repository}:pull`);
    const headers: Record<string, string> = {};
    if (cred) headers.Authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    const res = await request(url.toString(), { ...this.common(), headers });
    const body = await readBody(res, 1024 * 1024, `the token response from ${url.origin}`);
    if (res.status !== 200) {
      throw new OpError(
        'registry_auth',
        `token request to ${url.origin}${url.pathname} failed: HTTP ${res.status} ${excerpt(body, 200)}`,
        'Check the credentials and that they may pull this repository.',
      );
    }
    const json = parseJson(body, `the token response from ${url.origin}`) as { token?: string; access_token?: string };
    const token = json.token ?? json.access_token;
    if (!token)
      throw new OpError(
        'registry_auth',
        `token response from ${url.origin} has no token`,
        "The token service did not issue a token: check the credentials and the registry's address.",
      );
    this.auth = `Bearer ${token}`;
  }

  /** GET a registry path, answering one auth challenge. */
  async get(path: string, accept?: string): Promise<HttpResponse> {
    const base = await this.baseUrl();
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {};
      if (accept) headers.Accept = accept;
      if (this.auth) headers.Authorization = this.auth;
      const res = await request(`${base}/v2/${this.ref.repository}/${path}`, { ...this.common(), headers });
      if (res.status === 401 && attempt === 0 && res.headers['www-authenticate']) {
        res.body.resume();
        await this.authenticate(String(res.headers['www-authenticate']));
        continue;
      }
      if (res.status !== 200) {
        const text = excerpt(await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0)), 300);
        throw new OpError(
          'registry_request',
          `registry ${this.ref.registry}: GET ${this.ref.repository}/${path} failed: HTTP ${res.status} ${text}`,
          httpHint(res.status),
        );
      }
      return res;
    }
  }
}

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
