// Console sign-in over HTTP: the cookie that carries a console session (src/access/console-sessions.ts), its CSRF
// check, and the brake on guessing passwords. Bearer tokens stay the API's way in; a cookie is only looked at when
// a request carries no Authorization header.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AirlockError } from '../domain/errors.js';
import type { Caller } from '../domain/model.js';
import type { Access } from '../access/access.js';
import type { PasswordService } from '../access/passwords.js';
import { CONSOLE_SESSION_TTL_SECONDS, type ConsoleSession, type ConsoleSignInMethod } from '../access/console-sessions.js';

export const SESSION_COOKIE = 'airlock_session';
/** State-changing calls made with the cookie must echo the session's CSRF value in this header. */
export const CSRF_HEADER = 'x-airlock-csrf';
export const SESSION_TTL_SECONDS = CONSOLE_SESSION_TTL_SECONDS;
// Cookies go only to the API: the console's pages and assets never need them.
const COOKIE_PATH = '/api/';
const FAILURE_WINDOW_MS = 15 * 60_000;
const MAX_FAILURES = 10;

export interface ConsoleSessionView {
  id: string;
  principal: string;
  method: ConsoleSignInMethod;
  created_at: string;
  expires_at: string;
  csrf: string;
}

/** The CSRF value follows from the cookie's secret, so it needs no storage and is useless without the cookie. */
function csrfFor(secret: string): string {
  return createHash('sha256').update(`airlock-console-csrf\0${secret}`).digest('base64url');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function readCookie(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Secure over HTTPS, and always behind a proxy that terminates TLS (--allow-http): the server sees plain HTTP there,
 * the browser does not. Plain HTTP on loopback without --allow-http stays without it: that is a browser on this host.
 */
function cookieHeader(req: FastifyRequest, value: string, maxAgeSeconds: number, behindTlsProxy: boolean): string {
  const secure = behindTlsProxy || req.protocol === 'https' ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=${COOKIE_PATH}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure}`;
}

const isSafeMethod = (m: string) => m === 'GET' || m === 'HEAD' || m === 'OPTIONS';

function viewOf(s: ConsoleSession, secret: string): ConsoleSessionView {
  return { id: s.id, principal: s.principal, method: s.method, created_at: s.created_at, expires_at: s.expires_at, csrf: csrfFor(secret) };
}

export function makeConsoleAuth(deps: { access: Access; passwords: PasswordService; behindTlsProxy?: boolean }) {
  const { access } = deps;
  const cookie = (req: FastifyRequest, value: string, maxAgeSeconds: number) => cookieHeader(req, value, maxAgeSeconds, deps.behindTlsProxy ?? false);
  const { clock } = access;
  // Failed sign-ins per principal and address, in this process: a brake on guessing, not a lock-out for everyone.
  const failures = new Map<string, { count: number; since: number }>();

  function throttled(key: string): number {
    const f = failures.get(key);
    if (!f) return 0;
    const left = f.since + FAILURE_WINDOW_MS - clock.now().getTime();
    if (left <= 0) {
      failures.delete(key);
      return 0;
    }
    return f.count >= MAX_FAILURES ? left : 0;
  }

  function noteFailure(key: string): void {
    const f = failures.get(key);
    if (f) f.count++;
    else failures.set(key, { count: 1, since: clock.now().getTime() });
    if (failures.size > 10_000) failures.delete(failures.keys().next().value!);
  }

  async function refuse(method: string, principal: string, source: string | null, reason: string, message: string): Promise<never> {
    await access.audit.append({ actor: principal || 'unknown', action: 'console.sign_in_failed', target: principal || null, source, details: { method, reason } });
    throw new AirlockError('AIRLOCK_UNAUTHENTICATED', message);
  }

  async function open(req: FastifyRequest, reply: FastifyReply, principal: string, method: ConsoleSignInMethod, tokenId: string | null, tokenExpires: string | null, notAfter?: string): Promise<ConsoleSessionView> {
    const { secret, session } = await access.consoleSessions.open({ principal, method, tokenId, tokenExpires, source: req.ip, notAfter });
    const maxAge = Math.max(1, Math.floor((Date.parse(session.expires_at) - clock.now().getTime()) / 1000));
    reply.header('set-cookie', cookie(req, secret, maxAge)).header('cache-control', 'no-store');
    return viewOf(session, secret);
  }

  /** The session behind the request's cookie, or undefined when there is no cookie; throws when it is not valid. */
  async function sessionOf(req: FastifyRequest): Promise<{ view: ConsoleSessionView; tokenId: string | null } | undefined> {
    const secret = readCookie(req, SESSION_COOKIE);
    if (!secret) return undefined;
    const found = await access.consoleSessions.find(secret);
    if (!found) throw new AirlockError('AIRLOCK_UNAUTHENTICATED', 'Your console session has ended (it expired or you signed out); sign in again.');
    if ('ended' in found) throw new AirlockError('AIRLOCK_UNAUTHENTICATED', found.ended);
    return { view: viewOf(found.session, secret), tokenId: found.session.token_id };
  }

  function checkCsrf(req: FastifyRequest, expected: string): void {
    const sent = req.headers[CSRF_HEADER];
    if (typeof sent !== 'string' || !sameText(sent, expected)) {
      throw new AirlockError('AIRLOCK_FORBIDDEN', 'This change came without the console\'s CSRF header, so it was refused; reload the console and try again.');
    }
  }

  return {
    async signInWithPassword(req: FastifyRequest, reply: FastifyReply, principal: string, password: string): Promise<ConsoleSessionView> {
      const key = `${principal}\0${req.ip}`;
      const wait = throttled(key);
      if (wait > 0) return refuse('password', principal, req.ip, 'throttled', `Too many failed sign-ins for "${principal}" from your address; try again in ${Math.ceil(wait / 60_000)} min.`);
      // Unknown principals cost the same scrypt as a wrong password, so the answer does not tell which it was.
      const ok = await deps.passwords.verify(principal, password);
      if (!ok || !access.policy().principal(principal)) {
        noteFailure(key);
        return refuse('password', principal, req.ip, ok ? 'not_in_policy' : 'wrong_password', 'The name or the password is not right. (Ask an admin to set a password with `airlock passwd`, or sign in with an access token.)');
      }
      failures.delete(key);
      return open(req, reply, principal, 'password', null, null);
    },

    async signInWithToken(req: FastifyRequest, reply: FastifyReply, token: string): Promise<ConsoleSessionView> {
      let caller: Caller;
      try {
        caller = await access.tokens.authenticate(token, req.ip);
      } catch (e) {
        if (e instanceof AirlockError) return refuse('token', '', req.ip, e.code, e.message);
        throw e;
      }
      const t = caller.token_id ? await access.tokens.byId(caller.token_id) : undefined;
      return open(req, reply, caller.principal.name, 'token', caller.token_id, t?.expires_at ?? null);
    },

    /** Opens a console session for a completed single sign-on (src/identity/sso.ts), ending when it does. */
    async signInWithSso(req: FastifyRequest, reply: FastifyReply, principal: string, notAfter: string): Promise<ConsoleSessionView> {
      return open(req, reply, principal, 'sso', null, null, notAfter);
    },

    /** Deletes the cookie's session (if it still exists) and clears the cookie. */
    async signOut(req: FastifyRequest, reply: FastifyReply): Promise<{ signed_out: boolean }> {
      reply.header('set-cookie', cookie(req, '', 0)).header('cache-control', 'no-store');
      const secret = readCookie(req, SESSION_COOKIE);
      if (!secret) return { signed_out: false };
      return { signed_out: await access.consoleSessions.signOut(secret, req.ip, () => checkCsrf(req, csrfFor(secret))) };
    },

    /**
     * The signed-in session, for the console's start-up; otherwise why not (null: no cookie at all). Not signed in is
     * an answer here, not an error, so the sign-in page loads without a failed request in the browser's console.
     */
    async current(req: FastifyRequest, reply: FastifyReply): Promise<ConsoleSessionView | { ended: string | null }> {
      const secret = readCookie(req, SESSION_COOKIE);
      if (!secret) return { ended: null };
      const found = await access.consoleSessions.find(secret);
      if (found && 'session' in found) return viewOf(found.session, secret);
      reply.header('set-cookie', cookie(req, '', 0));
      return { ended: found?.ended ?? 'Your console session has ended (it expired or you signed out); sign in again.' };
    },

    /** The console session behind the request's cookie (undefined without one): the query runner binds its gateway logins to it. */
    async consoleSession(req: FastifyRequest): Promise<{ id: string; expires_at: string } | undefined> {
      const s = await sessionOf(req);
      return s && { id: s.view.id, expires_at: s.view.expires_at };
    },

    /** A caller from the cookie, or undefined when the request has none. Changes need the CSRF header. */
    async authenticate(req: FastifyRequest): Promise<Caller | undefined> {
      const s = await sessionOf(req);
      if (!s) return undefined;
      if (!isSafeMethod(req.method)) checkCsrf(req, s.view.csrf);
      const principal = access.policy().principal(s.view.principal);
      if (!principal) throw new AirlockError('AIRLOCK_UNAUTHENTICATED', `"${s.view.principal}" is no longer in the policy.`);
      return { principal, source: req.ip, token_id: s.tokenId, console_session_id: s.view.method === 'token' ? null : s.view.id };
    },
  };
}

export type ConsoleAuth = ReturnType<typeof makeConsoleAuth>;
