// Single sign-on as Airlock runs it: the flows in flight (browser logins, device codes, one-time codes for the CLI's
// loopback), and what a completed sign-in becomes — a principal with the groups the IdP gives, recorded and audited.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AirlockError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Policy } from '../policy/compile.js';
import type { OidcDef, SecretRef } from '../policy/schema.js';
import { makeOidcClient, failureReason, type IdpSignIn, type OidcClient } from './oidc.js';
import { idpGroupsFrom, mapGroups, principalFrom } from './claims.js';
import type { Identities } from './identities.js';

/** A browser has this long to come back from the IdP. */
const LOGIN_TTL_MS = 10 * 60_000;
/** The CLI's loopback has this long to exchange its one-time code. */
const CODE_TTL_MS = 2 * 60_000;
const MAX_IN_FLIGHT = 10_000;

export interface SignedIn {
  principal: string;
  groups: string[];
  expiresAt: string;
}

/** What the browser came for: the console, or a token for `airlock login --sso` handed to its loopback. */
export type LoginPurpose = { kind: 'console' } | { kind: 'cli'; redirect: string; challenge: string };

interface PendingLogin {
  nonce: string;
  verifier: string;
  binding: string;
  purpose: LoginPurpose;
  expires: number;
}

interface DeviceFlow {
  status: 'pending' | 'approved' | 'failed';
  signIn?: SignedIn;
  error?: string;
  expires: number;
  abort: AbortController;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const random = () => randomBytes(24).toString('base64url');

function sameText(a: string, b: string): boolean {
  const x = sha256(a);
  const y = sha256(b);
  return timingSafeEqual(x, y);
}

/** The loopback address `airlock login --sso` listens on: http://127.0.0.1:<port>/… only. */
export function isLoopbackRedirect(u: string): boolean {
  return /^http:\/\/(127\.0\.0\.1|\[::1\]):\d{1,5}\/[A-Za-z0-9/_-]*$/.test(u);
}

function bounded<K, V extends { expires: number }>(m: Map<K, V>, now: number): void {
  for (const [k, v] of m) if (v.expires <= now) m.delete(k);
  if (m.size > MAX_IN_FLIGHT) m.delete(m.keys().next().value!);
}

export function makeSso(deps: { policy: () => Policy; identities: Identities; audit: Pick<AuditLog, 'append'>; clock: Clock; resolveSecret: (ref: SecretRef) => string }) {
  const { clock, audit } = deps;
  const logins = new Map<string, PendingLogin>();
  const codes = new Map<string, { signIn: SignedIn; challenge: string; expires: number }>();
  const devices = new Map<string, DeviceFlow>();
  let built: { key: string; client: OidcClient } | undefined;
  const now = () => clock.now().getTime();

  function settings(): OidcDef | undefined {
    return deps.policy().doc.identity?.oidc;
  }

  /** The client for the policy's identity section, rebuilt when the section changes (a policy reload). */
  function client(): { def: OidcDef; client: OidcClient } {
    const def = settings();
    if (!def) throw new AirlockError('AIRLOCK_SSO_NOT_CONFIGURED', 'Single sign-on is not configured: the policy has no identity.oidc section (docs/identity.md).');
    const key = JSON.stringify(def);
    if (built?.key !== key) built = { key, client: makeOidcClient(def, def.client_secret ? deps.resolveSecret(def.client_secret) : undefined) };
    return { def, client: built.client };
  }

  async function fail(via: string, source: string | null, reason: string, who: { principal?: string; subject?: string } = {}): Promise<never> {
    await audit.append({ actor: who.principal ?? 'unknown', action: 'sso.sign_in_failed', target: who.principal ?? null, source, details: { reason, via, source: 'oidc', ...(who.subject ? { subject: who.subject } : {}) } });
    throw new AirlockError('AIRLOCK_SSO_FAILED', `Single sign-on did not complete: ${reason}.`);
  }

  /** Maps a validated sign-in to a principal, refuses people the policy does not let in, and records the rest. */
  async function complete(idp: IdpSignIn, via: string, source: string | null): Promise<SignedIn> {
    const { def } = client();
    const subject = typeof idp.claims.sub === 'string' ? idp.claims.sub : '';
    const named = principalFrom(idp.claims, def);
    if ('problem' in named) return fail(via, source, named.problem, { subject });
    const listed = deps.policy().principal(named.name);
    if (listed && listed.kind !== 'user') return fail(via, source, `"${named.name}" is an agent in the policy; agents do not sign in with single sign-on`, { principal: named.name, subject });
    if (!listed && !def.allow_unlisted) return fail(via, source, `"${named.name}" is not a principal in the policy, and identity.oidc.allow_unlisted is off; ask an admin to add you`, { principal: named.name, subject });
    const t = now();
    const end = Math.min(t + def.console_session_max * 1000, idp.idpSessionEnd);
    if (end <= t) return fail(via, source, 'the identity provider\'s session for this sign-in has already ended', { principal: named.name, subject });
    const idpGroups = idpGroupsFrom(idp.claims, def);
    const groups = mapGroups(idpGroups, def);
    const expiresAt = new Date(end).toISOString();
    const email = typeof idp.claims.email === 'string' ? idp.claims.email : null;
    await deps.identities.recordSignIn({ principal: named.name, subject, email, listed: listed !== undefined, groups, idpGroups, sessionExpiresAt: expiresAt, via, source });
    return { principal: named.name, groups, expiresAt };
  }

  return {
    /** Whether SSO is on, the button's name, and whether the IdP offers the device flow (airlock login --sso). */
    async status(): Promise<{ enabled: boolean; display_name: string | null; device_flow: boolean }> {
      const def = settings();
      if (!def) return { enabled: false, display_name: null, device_flow: false };
      // An IdP that cannot be reached now still gets its button: the sign-in then says what went wrong.
      // The sign-in page waits for this answer: an IdP slow to answer discovery costs it 3 s at most.
      const device = await Promise.race([client().client.supportsDeviceFlow().catch(() => false), new Promise<boolean>((r) => setTimeout(() => r(false), 3000).unref())]);
      return { enabled: true, display_name: def.display_name, device_flow: device };
    },

    /** Begins a browser login: the IdP URL to send it to, and a binding value for a cookie that ties the callback to it. */
    async start(redirectUri: string, purpose: LoginPurpose): Promise<{ url: string; binding: string }> {
      const { client: c } = client();
      const s = await c.startLogin(redirectUri);
      const binding = random();
      bounded(logins, now());
      logins.set(s.state, { nonce: s.nonce, verifier: s.verifier, binding, purpose, expires: now() + LOGIN_TTL_MS });
      return { url: s.url, binding };
    },

    /**
     * The IdP's redirect back: the login is looked up by state (once), must come from the browser that started it,
     * and its ID token must validate. Failures are audited and thrown as AIRLOCK_SSO_FAILED.
     */
    async callback(url: URL, binding: string | undefined, source: string | null): Promise<{ purpose: LoginPurpose; signIn: SignedIn }> {
      const state = url.searchParams.get('state') ?? '';
      const login = logins.get(state);
      logins.delete(state);
      if (!login || login.expires <= now()) return fail('console', source, 'this sign-in link is unknown, already used or too old; start again');
      const via = login.purpose.kind;
      if (!binding || !sameText(binding, login.binding)) return fail(via, source, 'the sign-in came back to a different browser than the one that started it');
      const idpError = url.searchParams.get('error');
      if (idpError) return fail(via, source, `the identity provider answered ${idpError}${url.searchParams.get('error_description') ? `: ${url.searchParams.get('error_description')}` : ''}`);
      let idp: IdpSignIn;
      try {
        idp = await client().client.finishLogin(url, { state, nonce: login.nonce, verifier: login.verifier }, now());
      } catch (e) {
        return fail(via, source, failureReason(e));
      }
      return { purpose: login.purpose, signIn: await complete(idp, via, source) };
    },

    /** A one-time code the CLI's loopback exchanges (with the verifier of its challenge) for its token. */
    issueCode(signIn: SignedIn, challenge: string): string {
      const code = random();
      bounded(codes, now());
      codes.set(code, { signIn, challenge, expires: now() + CODE_TTL_MS });
      return code;
    },

    redeemCode(code: string, verifier: string): SignedIn {
      const c = codes.get(code);
      codes.delete(code);
      const expected = c ? sha256(verifier).toString('base64url') : '';
      if (!c || c.expires <= now() || !sameText(expected, c.challenge)) throw new AirlockError('AIRLOCK_SSO_FAILED', 'Single sign-on did not complete: the one-time code is unknown, used, expired or not yours; run airlock login --sso again.');
      return c.signIn;
    },

    /** Starts a device authorization at the IdP; the server polls it, the CLI polls us with the handle. */
    async startDevice(source: string | null) {
      const { client: c } = client();
      if (!(await c.supportsDeviceFlow())) throw new AirlockError('AIRLOCK_SSO_NOT_CONFIGURED', 'The identity provider does not offer the device authorization grant; airlock login --sso signs in through the browser instead.');
      const d = await c.startDevice();
      const handle = random();
      const flow: DeviceFlow = { status: 'pending', expires: now() + d.response.expires_in * 1000, abort: new AbortController() };
      bounded(devices, now());
      devices.set(handle, flow);
      const timer = setTimeout(() => flow.abort.abort(), d.response.expires_in * 1000);
      timer.unref();
      d.wait(flow.abort.signal, now)
        .then((idp) => complete(idp, 'cli', source))
        .then((signIn) => Object.assign(flow, { status: 'approved', signIn }))
        .catch(async (e: unknown) => {
          const reason = e instanceof AirlockError ? e.message.replace(/^Single sign-on did not complete: /, '').replace(/\.$/, '') : failureReason(e);
          if (!(e instanceof AirlockError)) await audit.append({ actor: 'unknown', action: 'sso.sign_in_failed', target: null, source, details: { reason, via: 'cli', source: 'oidc' } }).catch(() => undefined);
          Object.assign(flow, { status: 'failed', error: reason });
        })
        .finally(() => clearTimeout(timer));
      const r = d.response;
      return { handle, user_code: r.user_code, verification_uri: r.verification_uri, verification_uri_complete: r.verification_uri_complete ?? null, interval: r.interval ?? 5, expires_in: r.expires_in };
    },

    /** The device flow's state; an approved one is handed out once. */
    pollDevice(handle: string): { status: 'pending' } | { status: 'approved'; signIn: SignedIn } {
      const f = devices.get(handle);
      if (!f) throw new AirlockError('AIRLOCK_SSO_FAILED', 'Single sign-on did not complete: this device sign-in is unknown or already finished; run airlock login --sso again.');
      if (f.status === 'pending') return { status: 'pending' };
      devices.delete(handle);
      if (f.status === 'failed') throw new AirlockError('AIRLOCK_SSO_FAILED', `Single sign-on did not complete: ${f.error}.`);
      return { status: 'approved', signIn: f.signIn! };
    },

    /** Ends device flows still polling the IdP (server shutdown). */
    close(): void {
      for (const f of devices.values()) f.abort.abort();
      devices.clear();
    },
  };
}

export type Sso = ReturnType<typeof makeSso>;
