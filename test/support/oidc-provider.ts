// A real OpenID Connect provider on loopback for the SSO tests (the oidc-provider package): its own RSA signing keys,
// a test user store with passwords and groups, a login page, the device flow, key rotation, and a switch that makes
// its token endpoint hand out a tampered ID token (wrong audience, expired, signed with another key).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration } from 'oidc-provider';

export interface TestUser {
  password: string;
  email: string;
  groups: string[];
  name?: string;
  /** The email_verified claim (default true). */
  emailVerified?: boolean;
}

export type Tamper = 'wrong_audience' | 'expired' | 'other_key' | null;

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  users: Map<string, TestUser>;
  /** Starts serving for Airlock at `airlockUrl` (its callback is the one redirect URI). */
  serve(airlockUrl: string): void;
  /** A new signing key: the provider signs with it and its JWKS lists it first, as an IdP does on rotation. */
  rotateKeys(): void;
  currentKid(): string;
  tamper: Tamper;
  stop(): Promise<void>;
}

interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
}

function newKey(): SigningKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `k-${randomBytes(6).toString('hex')}`;
  return { kid, privateKey, jwk: { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' } };
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Re-signs an ID token with changed claims (RS256), with `key` under the kid the provider's key has. */
function resign(idToken: string, change: (c: Record<string, unknown>) => void, kid: string, key: KeyObject): string {
  const [h, p] = idToken.split('.') as [string, string];
  const header = { ...JSON.parse(Buffer.from(h, 'base64url').toString()), kid };
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  change(claims);
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

function readBody(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (s += c));
    req.on('end', () => resolve(new URLSearchParams(s)));
    req.on('error', reject);
  });
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid: string, message: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Test IdP sign-in</title></head><body>
<h1>Test IdP</h1><p>${esc(message)}</p>
<form method="post" action="/interaction/${esc(uid)}/login">
<label>Username <input name="login" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in to the test IdP</button></form></body></html>`;
}

/** Starts listening on 127.0.0.1; serve() attaches the provider once Airlock's URL (its redirect URI) is known. */
export async function startTestIdp(opts: { idTokenTtl?: number; users?: Record<string, TestUser> } = {}): Promise<TestIdp> {
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  const server: Server = createServer((req, res) => {
    if (handler) handler(req, res);
    else res.writeHead(503).end('not serving yet');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'airlock';
  const clientSecret = randomBytes(24).toString('base64url');
  const users = new Map(Object.entries(opts.users ?? {}));
  let keys: SigningKey[] = [newKey()];
  let provider: Provider;
  let airlock = '';

  function build(): Provider {
    const config: Configuration = {
      clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [`${airlock}/api/v1/auth/sso/callback`], grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' }],
      jwks: { keys: keys.map((k) => k.jwk) as never },
      features: { devInteractions: { enabled: false }, deviceFlow: { enabled: true } },
      pkce: { required: () => true },
      conformIdTokenClaims: false,
      claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email', 'email_verified'], groups: ['groups'] },
      scopes: ['openid', 'profile', 'email', 'groups'],
      ttl: { IdToken: opts.idTokenTtl ?? 3600, AccessToken: 600, Session: 86400, Interaction: 600, Grant: 86400, DeviceCode: 600 },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      cookies: { keys: ['test-idp-cookie-key'] },
      // A first-party client: consent is implied, as for an IdP's own apps.
      async loadExistingGrant(ctx) {
        const accountId = ctx.oidc.session!.accountId!;
        const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId });
        grant.addOIDCScope('openid profile email groups');
        grant.addOIDCClaims(['preferred_username', 'name', 'email', 'email_verified', 'groups']);
        await grant.save();
        return grant;
      },
      async findAccount(_ctx, id) {
        const u = users.get(id);
        if (!u) return undefined;
        return { accountId: id, claims: async () => ({ sub: id, preferred_username: id, name: u.name ?? id, email: u.email, email_verified: u.emailVerified ?? true, groups: [...u.groups] }) };
      },
    };
    const p = new Provider(issuer, config);
    p.proxy = false;
    return p;
  }

  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string, login: boolean): Promise<void> {
    if (!login) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(loginPage(uid, 'Sign in with your test account.'));
      return;
    }
    const body = await readBody(req);
    const name = body.get('login') ?? '';
    const u = users.get(name);
    if (!u || u.password !== body.get('password')) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(loginPage(uid, 'Wrong username or password.'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: name } }, { mergeWithLastSubmission: false });
  }

  /** The token endpoint's answer with its ID token changed as `idp.tamper` says. */
  function tampering(res: ServerResponse): void {
    const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse;
    (res as unknown as { end: (chunk?: unknown) => ServerResponse }).end = (chunk?: unknown) => {
      if (!chunk || !idp.tamper) return end(chunk);
      const body = JSON.parse(Buffer.from(chunk as Buffer).toString()) as { id_token?: string };
      if (body.id_token) {
        const key = keys[0]!;
        const now = Math.floor(Date.now() / 1000);
        if (idp.tamper === 'wrong_audience') body.id_token = resign(body.id_token, (c) => (c.aud = 'some-other-client'), key.kid, key.privateKey);
        if (idp.tamper === 'expired') body.id_token = resign(body.id_token, (c) => Object.assign(c, { iat: now - 7200, exp: now - 600 }), key.kid, key.privateKey);
        if (idp.tamper === 'other_key') body.id_token = resign(body.id_token, () => undefined, key.kid, newKey().privateKey);
      }
      const out = Buffer.from(JSON.stringify(body));
      res.setHeader('content-length', out.length);
      return end(out);
    };
  }

  const idp: TestIdp = {
    issuer,
    clientId,
    clientSecret,
    users,
    tamper: null,
    serve(airlockUrl) {
      airlock = airlockUrl;
      provider = build();
      handler = (req, res) => {
        const m = /^\/interaction\/([^/?]+)(\/login)?$/.exec(req.url?.split('?')[0] ?? '');
        if (m) {
          interaction(req, res, m[1]!, m[2] !== undefined && req.method === 'POST').catch((e: unknown) => res.writeHead(500).end(String(e)));
          return;
        }
        if (req.url?.startsWith('/token') && req.method === 'POST') tampering(res);
        provider.callback()(req, res);
      };
    },
    rotateKeys() {
      keys = [newKey(), ...keys];
      provider = build();
    },
    currentKid: () => keys[0]!.kid,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return idp;
}

/** Cookies per host, as a browser keeps them (paths and expiry ignored: one short test conversation each). */
export class CookieJar {
  private readonly jar = new Map<string, Map<string, string>>();
  header(url: URL): string {
    return [...(this.jar.get(url.host) ?? new Map<string, string>()).entries()].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  keep(url: URL, res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const host = this.jar.get(url.host) ?? new Map<string, string>();
      const value = pair!.slice(eq + 1);
      if (value === '' || /max-age=0\b|expires=thu, 01 jan 1970/i.test(c)) host.delete(pair!.slice(0, eq));
      else host.set(pair!.slice(0, eq), value);
      this.jar.set(url.host, host);
    }
  }
  get(host: string, name: string): string | undefined {
    return this.jar.get(host)?.get(name);
  }
}

/**
 * Walks a browser's way from `start` through the IdP's pages: follows redirects, fills the login form with `user` and
 * `password`, submits the other forms (the device code confirmation) as they are. Stops at the first URL `until`
 * accepts, or at a page with no form; returns that URL and the page's text.
 */
export async function browse(start: string, o: { jar?: CookieJar; user: string; password: string; until?: (u: URL) => boolean }): Promise<{ url: URL; status: number; text: string; jar: CookieJar }> {
  const jar = o.jar ?? new CookieJar();
  let url = new URL(start);
  let init: RequestInit = { method: 'GET' };
  for (let hop = 0; hop < 30; hop++) {
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: jar.header(url) } });
    jar.keep(url, res);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, url);
      init = { method: 'GET' };
      if (o.until?.(url)) return { url, status: res.status, text: '', jar };
      continue;
    }
    const text = await res.text();
    const form = /(<form[^>]*>)([\s\S]*?)<\/form>/i.exec(text);
    if (!form || o.until?.(url)) return { url, status: res.status, text, jar };
    const fields = new URLSearchParams();
    for (const i of form[2]!.matchAll(/<input[^>]*>/gi)) {
      const name = /name="([^"]*)"/.exec(i[0])?.[1];
      if (!name) continue;
      const value = name === 'login' ? o.user : name === 'password' ? o.password : (/value="([^"]*)"/.exec(i[0])?.[1] ?? '');
      fields.set(name, value.replace(/&#(\d+);/g, (_m, d: string) => String.fromCharCode(Number(d))));
    }
    if (text.includes('Wrong username or password')) return { url, status: res.status, text, jar };
    url = new URL(/action="([^"]*)"/.exec(form[1]!)?.[1] ?? url.href, url);
    init = { method: 'POST', body: fields.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  }
  throw new Error(`too many hops from ${start}`);
}
