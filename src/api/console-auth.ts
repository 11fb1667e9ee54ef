// Console sign-in: cookie sessions for the web console (stored hashed, with expiry) and their CSRF check.
// Bearer tokens stay the API's way in; a cookie is only looked at when a request carries no Authorization header.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AirlockError } from '../domain/errors.js';
import { randomBase32 } from '../domain/ids.js';
import type { Caller } from '../domain/model.js';
import type { Access } from '../access/access.js';
import type { PasswordService } from '../access/passwords.js';

export const SESSION_COOKIE = 'airlock_session';
/** State-changing calls made with the cookie must echo the session's CSRF value in this header. */
export const CSRF_HEADER = 'x-airlock-csrf';
export const SESSION_TTL_SECONDS = 12 * 3600;
// Cookies go only to the API: the console's pages and assets never need them.
const COOKIE_PATH = '/api/';
const FAILURE_WINDOW_MS = 15 * 60_000;
const MAX_FAILURES = 10;

export interface ConsoleSessionView {
  id: string;
  principal: string;
  method: 'password' | 'token';
  created_at: string;
  expires_at: string;
  csrf: string;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
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

function cookieHeader(req: FastifyRequest, value: string, maxAgeSeconds: number): string {
  const secure = req.protocol === 'https' ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=${COOKIE_PATH}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure}`;
}

const isSafeMethod = (m: string) => m === 'GET' || m === 'HEAD' || m === 'OPTIONS';

export function makeConsoleAuth(deps: { access: Access; passwords: PasswordService }) {
  const { access } = deps;
  const { store, clock } = access;
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

  async function open(req: FastifyRequest, reply: FastifyReply, principal: string, method: 'password' | 'token', tokenId: string | null, tokenExpires: string | null): Promise<ConsoleSessionView> {
    const secret = randomBytes(32).toString('base64url');
    const now = clock.now();
    const ttlEnd = new Date(now.getTime() + SESSION_TTL_SECONDS * 1000).toISOString();
    const expires = tokenExpires && tokenExpires < ttlEnd ? tokenExpires : ttlEnd;
    const row = { id: `cs_${randomBase32(16)}`, hash: sha256(secret), principal, method, token_id: tokenId, source: req.ip, created_at: now.toISOString(), expires_at: expires };
    await access.uow(async (trx, rec) => {
      await trx.deleteFrom('console_sessions').where('expires_at', '<=', row.created_at).execute();
      await trx.insertInto('console_sessions').values(row).execute();
      rec.audit({ actor: principal, action: 'console.sign_in', target: principal, source: req.ip, details: { method, console_session_id: row.id, token_id: tokenId, expires_at: expires } });
    });
    const maxAge = Math.max(1, Math.floor((Date.parse(expires) - now.getTime()) / 1000));
    reply.header('set-cookie', cookieHeader(req, secret, maxAge)).header('cache-control', 'no-store');
    return { id: row.id, principal, method, created_at: row.created_at, expires_at: expires, csrf: csrfFor(secret) };
  }

  /** The session behind the request's cookie, or undefined when there is no cookie; throws when it is not valid. */
  async function sessionOf(req: FastifyRequest): Promise<{ view: ConsoleSessionView; tokenId: string | null } | undefined> {
    const secret = readCookie(req, SESSION_COOKIE);
    if (!secret) return undefined;
    const row = await store.db.selectFrom('console_sessions').selectAll().where('hash', '=', sha256(secret)).executeTakeFirst();
    const now = clock.now().toISOString();
    if (!row || row.expires_at <= now) {
      if (row) await store.db.deleteFrom('console_sessions').where('id', '=', row.id).execute();
      throw new AirlockError('AIRLOCK_UNAUTHENTICATED', 'Your console session has ended (it expired or you signed out); sign in again.');
    }
    if (row.token_id) {
      const t = await access.tokens.byId(row.token_id);
      if (!t?.valid) {
        await store.db.deleteFrom('console_sessions').where('id', '=', row.id).execute();
        throw new AirlockError('AIRLOCK_UNAUTHENTICATED', 'The access token you signed in with has expired or was revoked; sign in again.');
      }
    }
    const view: ConsoleSessionView = { id: row.id, principal: row.principal, method: row.method === 'token' ? 'token' : 'password', created_at: row.created_at, expires_at: row.expires_at, csrf: csrfFor(secret) };
    return { view, tokenId: row.token_id };
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

    /** Deletes the cookie's session (if it still exists) and clears the cookie. */
    async signOut(req: FastifyRequest, reply: FastifyReply): Promise<{ signed_out: boolean }> {
      reply.header('set-cookie', cookieHeader(req, '', 0)).header('cache-control', 'no-store');
      const secret = readCookie(req, SESSION_COOKIE);
      if (!secret) return { signed_out: false };
      const row = await store.db.selectFrom('console_sessions').selectAll().where('hash', '=', sha256(secret)).executeTakeFirst();
      if (!row) return { signed_out: false };
      checkCsrf(req, csrfFor(secret));
      await access.uow(async (trx, rec) => {
        await trx.deleteFrom('console_sessions').where('id', '=', row.id).execute();
        // Tokens minted in this session end with it, and with them the database sessions opened with them.
        const revoked = await access.tokens.revokeMintedIn(trx, rec, [row.id], row.principal, req.ip, `${row.principal} signed out of the console session that minted it`);
        rec.audit({ actor: row.principal, action: 'console.sign_out', target: row.principal, source: req.ip, details: { console_session_id: row.id, method: row.method, tokens_revoked: revoked } });
      });
      return { signed_out: true };
    },

    /** The signed-in session (for the console's start-up); 401 without one. */
    async current(req: FastifyRequest): Promise<ConsoleSessionView> {
      const s = await sessionOf(req);
      if (!s) throw new AirlockError('AIRLOCK_UNAUTHENTICATED', 'You are not signed in to the console.');
      return s.view;
    },

    /** A caller from the cookie, or undefined when the request has none. Changes need the CSRF header. */
    async authenticate(req: FastifyRequest): Promise<Caller | undefined> {
      const s = await sessionOf(req);
      if (!s) return undefined;
      if (!isSafeMethod(req.method)) checkCsrf(req, s.view.csrf);
      const principal = access.policy().principal(s.view.principal);
      if (!principal) throw new AirlockError('AIRLOCK_UNAUTHENTICATED', `"${s.view.principal}" is no longer in the policy.`);
      return { principal, source: req.ip, token_id: s.tokenId, console_session_id: s.view.method === 'password' ? s.view.id : null };
    },
  };
}

export type ConsoleAuth = ReturnType<typeof makeConsoleAuth>;
