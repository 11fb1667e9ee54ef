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
import { BOOTSTRAP_ADMIN } from '../policy/compile.js';
import type { Identities } from './identities.js';
import { cliConfirmationCode } from '../domain/cli-code.js';

/** A browser has this long to come back from the IdP. */
const LOGIN_TTL_MS = 10 * 60_000;
/** The CLI's loopback has this long to exchange its one-time code; a person as long to confirm the CLI's sign-in. */
const CODE_TTL_MS = 2 * 60_000;
/** In flight at once, in all: when full, new sign-ins are refused (AIRLOCK_SSO_BUSY), never older ones pushed out. */
const MAX_LOGINS = 10_000;
/** Each device flow has the server poll the IdP for up to expires_in: far fewer of those. */
const MAX_DEVICES = 100;
/** Per client address, per minute: browser sign-ins started, device flows started. */
const PER_ADDRESS = { start: 120, device: 10 } as const;

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
  started: number;
  expires: number;
}

/** A CLI sign-in the person has yet to confirm on Airlock's page (the form's CSRF token, bound to the browser). */
interface PendingConfirmation {
  signIn: SignedIn;
  purpose: Extract<LoginPurpose, { kind: 'cli' }>;
  binding: string;
  csrf: string;
  started: number;
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

const busy = (what: string) => new AirlockError('AIRLOCK_SSO_BUSY', `Too many ${what} in progress; try again in a minute.`);

/** Drops what has expired (ending it: a device flow stops polling), then refuses a new entry when still full. */
function bounded<K, V extends { expires: number; abort?: AbortController }>(m: Map<K, V>, now: number, max: number, what: string): void {
  for (const [k, v] of m) {
    if (v.expires > now) continue;
    v.abort?.abort();
    m.delete(k);
  }
  if (m.size >= max) throw busy(what);
}

export function makeSso(deps: { policy: () => Policy; identities: Identities; audit: Pick<AuditLog, 'append'>; clock: Clock; resolveSecret: (ref: SecretRef) => string }) {
  const { clock, audit } = deps;
  const logins = new Map<string, PendingLogin>();
  const confirmations = new Map<string, PendingConfirmation>();
  const codes = new Map<string, { signIn: SignedIn; challenge: string; expires: number }>();
  const devices = new Map<string, DeviceFlow>();
  // Fixed one-minute windows per (what, address); the map holds the current minute's only.
  const counts = new Map<string, { n: number; expires: number }>();
  let built: { key: string; client: OidcClient } | undefined;
  const now = () => clock.now().getTime();

  function limit(what: keyof typeof PER_ADDRESS, source: string | null): void {
    const t = now();
    const key = `${what} ${source ?? '?'}`;
    let c = counts.get(key);
    if (!c || c.expires <= t) {
      if (counts.size >= MAX_LOGINS) for (const [k, v] of counts) if (v.expires <= t) counts.delete(k);
      // As many addresses as sign-ins in a minute: a flood from many addresses is refused, not remembered.
      if (counts.size >= MAX_LOGINS) throw busy('single sign-ons');
      c = { n: 0, expires: t + 60_000 };
      counts.set(key, c);
    }
    if (++c.n > PER_ADDRESS[what]) throw new AirlockError('AIRLOCK_SSO_BUSY', `Too many single sign-ons started from your address; try again in a minute.`);
  }

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

  /**
   * Audits sso.sign_in_failed and throws AIRLOCK_SSO_FAILED; `code` (details.code, and the sign-in page's ?sso_error=)
   * is one of a fixed set, the sentence says the particulars.
   */
  async function fail(via: string, source: string | null, code: string, reason: string, who: { principal?: string; subject?: string } = {}): Promise<never> {
    await audit.append({ actor: who.principal ?? 'unknown', action: 'sso.sign_in_failed', target: who.principal ?? null, source, details: { reason, code, via, source: 'oidc', ...(who.subject ? { subject: who.subject } : {}) } });
    throw new AirlockError('AIRLOCK_SSO_FAILED', `Single sign-on did not complete: ${reason}.`, { sso_error: code });
  }

  /**
   * Maps a validated sign-in to a principal, refuses what the policy does not let in — agents, admins it does not
   * link to an IdP subject, an e-mail other than the policy's, a subject other than the one the principal is
   * pinned to — and records the rest.
   */
  async function complete(idp: IdpSignIn, via: string, source: string | null, details?: Record<string, unknown>): Promise<SignedIn> {
    const { def } = client();
    const base = deps.policy();
    const subject = typeof idp.claims.sub === 'string' ? idp.claims.sub : '';
    const issuer = typeof idp.claims.iss === 'string' ? idp.claims.iss : def.issuer;
    const named = principalFrom(idp.claims, def);
    if ('problem' in named) return fail(via, source, named.code, named.problem, { subject });
    const who = { principal: named.name, subject };
    const listed = base.principal(named.name);
    if (listed && listed.kind !== 'user') return fail(via, source, 'agent', `"${named.name}" is an agent in the policy; agents do not sign in with single sign-on`, who);
    if (!listed && !def.allow_unlisted) return fail(via, source, 'not_listed', `"${named.name}" is not a principal in the policy, and identity.oidc.allow_unlisted is off; ask an admin to add you`, who);
    // Whoever the IdP calls "admin" is not Airlock's bootstrap admin, and an admin is reached only through the
    // subject the policy file names for them (sso_subject): a claim's name alone never makes anyone an admin.
    const fileEntry = base.doc.principals.find((p) => p.name === named.name);
    const linked = fileEntry?.sso_subject;
    if (named.name === BOOTSTRAP_ADMIN) return fail(via, source, 'admin_not_linked', `"${BOOTSTRAP_ADMIN}" is Airlock's bootstrap admin and never signs in with single sign-on`, who);
    if (!linked && base.isAdmin(listed ?? { name: named.name, kind: 'user', groups: [] })) return fail(via, source, 'admin_not_linked', `"${named.name}" is an admin, and admins sign in with single sign-on only when the policy names their IdP subject (sso_subject)`, who);
    // An auditor the policy names but does not list would otherwise be whoever first signs in under allow_unlisted.
    if (!listed && base.doc.auditors.principals.includes(named.name)) return fail(via, source, 'admin_not_linked', `"${named.name}" is an auditor the policy names but does not list in principals; list it there (with sso_subject) to sign in with single sign-on`, who);
    if (linked && linked !== subject) return fail(via, source, 'subject_mismatch', `"${named.name}" signs in only as the IdP subject the policy names (sso_subject), not this one`, who);
    const verified = idp.claims.email_verified === true;
    const email = typeof idp.claims.email === 'string' ? idp.claims.email : null;
    if (listed?.email !== undefined) {
      if (email === null || email.toLowerCase() !== listed.email.toLowerCase()) return fail(via, source, 'email_mismatch', `the identity provider's e-mail address for this sign-in is not the one the policy gives "${named.name}"`, who);
      if (idp.claims.email_verified === false) return fail(via, source, 'email_unverified', 'the identity provider says this e-mail address is not verified', who);
    }
    const t = now();
    const end = Math.min(t + def.console_session_max * 1000, idp.idpSessionEnd);
    if (end <= t) return fail(via, source, 'session_ended', 'the identity provider\'s session for this sign-in has already ended', who);
    const idpGroups = idpGroupsFrom(idp.claims, def);
    const { groups, dropped } = mapGroups(idpGroups, def, new Set([...base.doc.admins.groups, ...base.doc.auditors.groups]));
    const expiresAt = new Date(end).toISOString();
    // An e-mail the IdP does not vouch for is not kept: it would match Slack users and receive notices.
    const r = await deps.identities.recordSignIn({ principal: named.name, issuer, subject, email: verified ? email : null, listed: listed !== undefined, groups, idpGroups, sessionExpiresAt: expiresAt, via, source, details });
    if (r === 'subject_mismatch') return fail(via, source, 'subject_mismatch', `"${named.name}" is linked to another account of the identity provider; an admin can unlink it (airlock identities unlink ${named.name})`, who);
    if (dropped.length) await audit.append({ actor: named.name, action: 'sso.groups_dropped', target: named.name, source, details: { dropped, group_prefix: def.group_prefix ?? null, why: 'not in Airlock\'s group form (a-z 0-9 . _ : -), too long, or an admin or auditor group (only group_mapping gives those)' } });
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
    async start(redirectUri: string, purpose: LoginPurpose, source: string | null): Promise<{ url: string; binding: string }> {
      const { client: c } = client();
      limit('start', source);
      bounded(logins, now(), MAX_LOGINS, 'single sign-ons');
      const s = await c.startLogin(redirectUri);
      const binding = random();
      logins.set(s.state, { nonce: s.nonce, verifier: s.verifier, binding, purpose, started: now(), expires: now() + LOGIN_TTL_MS });
      return { url: s.url, binding };
    },

    /**
     * The IdP's redirect back: the login is looked up by state, must come from the browser that started it (checked
     * before the login is used up, so one who learns the state cannot cancel it), and its ID token must validate.
     * Failures are audited and thrown as AIRLOCK_SSO_FAILED.
     */
    async callback(url: URL, binding: string | undefined, source: string | null): Promise<{ purpose: LoginPurpose; signIn: SignedIn; started: number }> {
      const state = url.searchParams.get('state') ?? '';
      const login = logins.get(state);
      if (!login || login.expires <= now()) return fail('console', source, 'unknown_login', 'this sign-in link is unknown, already used or too old; start again');
      const via = login.purpose.kind;
      if (!binding || !sameText(binding, login.binding)) return fail(via, source, 'other_browser', 'the sign-in came back to a different browser than the one that started it');
      logins.delete(state);
      const idpError = url.searchParams.get('error');
      if (idpError) return fail(via, source, 'idp_refused', `the identity provider answered ${idpError}${url.searchParams.get('error_description') ? `: ${url.searchParams.get('error_description')}` : ''}`);
      let idp: IdpSignIn;
      try {
        idp = await client().client.finishLogin(url, { state, nonce: login.nonce, verifier: login.verifier }, now());
      } catch (e) {
        const f = failureReason(e);
        return fail(via, source, f.code, f.reason);
      }
      return { purpose: login.purpose, signIn: await complete(idp, via, source), started: login.started };
    },

    /**
     * Holds a CLI sign-in until the person confirms it on Airlock's page: whoever chose the loopback and challenge of
     * a sign-in link gets nothing unless the person who signed in agrees, having compared the CLI's code.
     */
    awaitConfirmation(signIn: SignedIn, purpose: Extract<LoginPurpose, { kind: 'cli' }>, started: number): { id: string; csrf: string; binding: string } {
      bounded(confirmations, now(), MAX_LOGINS, 'single sign-ons');
      const id = random();
      const c = { signIn, purpose, binding: random(), csrf: random(), started, expires: now() + CODE_TTL_MS };
      confirmations.set(id, c);
      return { id, csrf: c.csrf, binding: c.binding };
    },

    /** What the confirmation page shows, for the browser that signed in only (its cookie): who, since when, the code. */
    async confirmation(id: string, binding: string | undefined, source: string | null): Promise<{ principal: string; started: number; code: string; csrf: string }> {
      const c = confirmations.get(id);
      if (!c || c.expires <= now()) return fail('cli', source, 'unknown_login', 'this confirmation is unknown, already answered or too old; run airlock login --sso again');
      if (!binding || !sameText(binding, c.binding)) return fail('cli', source, 'other_browser', 'the confirmation was opened in a different browser than the one that signed in', { principal: c.signIn.principal });
      return { principal: c.signIn.principal, started: c.started, code: cliConfirmationCode(c.purpose.challenge), csrf: c.csrf };
    },

    /** The person's answer on the confirmation page: with `allow`, the loopback URL carrying a one-time code. */
    async confirm(id: string, csrf: string, binding: string | undefined, allow: boolean, source: string | null): Promise<{ redirect: string } | { cancelled: true }> {
      const c = confirmations.get(id);
      if (!c || c.expires <= now()) return fail('cli', source, 'unknown_login', 'this confirmation is unknown, already answered or too old; run airlock login --sso again');
      if (!binding || !sameText(binding, c.binding) || !sameText(csrf, c.csrf)) return fail('cli', source, 'other_browser', 'the confirmation came from a different browser than the one that signed in', { principal: c.signIn.principal });
      confirmations.delete(id);
      if (!allow) {
        await audit.append({ actor: c.signIn.principal, action: 'sso.cli_refused', target: c.signIn.principal, source, details: { via: 'cli', source: 'oidc' } });
        return { cancelled: true };
      }
      const code = random();
      bounded(codes, now(), MAX_LOGINS, 'single sign-ons');
      codes.set(code, { signIn: c.signIn, challenge: c.purpose.challenge, expires: now() + CODE_TTL_MS });
      return { redirect: `${c.purpose.redirect}?code=${encodeURIComponent(code)}` };
    },

    redeemCode(code: string, verifier: string): SignedIn {
      const c = codes.get(code);
      codes.delete(code);
      const expected = c ? sha256(verifier).toString('base64url') : '';
      if (!c || c.expires <= now() || !sameText(expected, c.challenge)) throw new AirlockError('AIRLOCK_SSO_FAILED', 'Single sign-on did not complete: the one-time code is unknown, used, expired or not yours; run airlock login --sso again.');
      return c.signIn;
    },

    /**
     * Starts a device authorization at the IdP; the server polls it, the CLI polls us with the handle. The address it
     * was started from is audited with the sign-in (started_from): a phished code shows whose machine asked.
     */
    async startDevice(source: string | null) {
      const { client: c } = client();
      if (!(await c.supportsDeviceFlow())) throw new AirlockError('AIRLOCK_SSO_NOT_CONFIGURED', 'The identity provider does not offer the device authorization grant; airlock login --sso signs in through the browser instead.');
      limit('device', source);
      bounded(devices, now(), MAX_DEVICES, 'device sign-ins');
      const d = await c.startDevice();
      const handle = random();
      const flow: DeviceFlow = { status: 'pending', expires: now() + d.response.expires_in * 1000, abort: new AbortController() };
      devices.set(handle, flow);
      const timer = setTimeout(() => flow.abort.abort(), d.response.expires_in * 1000);
      timer.unref();
      d.wait(flow.abort.signal, now)
        .then((idp) => complete(idp, 'cli', source, { started_from: source, flow: 'device' }))
        .then((signIn) => Object.assign(flow, { status: 'approved', signIn }))
        .catch(async (e: unknown) => {
          const f = e instanceof AirlockError ? { code: '', reason: e.message.replace(/^Single sign-on did not complete: /, '').replace(/\.$/, '') } : failureReason(e);
          if (!(e instanceof AirlockError) && !flow.abort.signal.aborted) await audit.append({ actor: 'unknown', action: 'sso.sign_in_failed', target: null, source, details: { reason: f.reason, code: f.code, via: 'cli', source: 'oidc', started_from: source } }).catch(() => undefined);
          Object.assign(flow, { status: 'failed', error: f.reason });
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

    /** Unlinks a principal from its IdP subject (an admin's action, audited): its next sign-in pins it afresh. */
    unlink: (principal: string, actor: string, source: string | null) => deps.identities.unlink(principal, actor, source),

    /** Ends device flows still polling the IdP (server shutdown). */
    close(): void {
      for (const f of devices.values()) f.abort.abort();
      devices.clear();
    },
  };
}

export type Sso = ReturnType<typeof makeSso>;
