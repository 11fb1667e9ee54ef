// Console sessions: opened by a sign-in, stored only as the SHA-256 of their secret, ended by expiry, sign-out, a new
// password, or the end of the token they were opened with. The cookie and CSRF that carry them are the API's business.
import { randomBytes } from 'node:crypto';
import type { Clock } from '../domain/clock.js';
import { randomBase32 } from '../domain/ids.js';
import type { Store } from '../store/store.js';
import { hashToken, type TokenService } from './tokens.js';
import type { UnitOfWork } from './unit-of-work.js';

export const CONSOLE_SESSION_TTL_SECONDS = 12 * 3600;

/** How a console session was opened: a local password, an access token, or single sign-on (src/identity/). */
export type ConsoleSignInMethod = 'password' | 'token' | 'sso';

export interface ConsoleSession {
  id: string;
  principal: string;
  method: ConsoleSignInMethod;
  /** The access token signed in with; the session ends when that token does. */
  token_id: string | null;
  created_at: string;
  expires_at: string;
}

/** A lookup's answer: the session, or why the secret no longer opens one (a sentence for the person). */
export type ConsoleSessionLookup = { session: ConsoleSession } | { ended: string };

export function makeConsoleSessions(deps: { store: Store; clock: Clock; uow: UnitOfWork; tokens: Pick<TokenService, 'byId' | 'revokeMintedIn'> }) {
  const { store, clock, uow } = deps;

  function view(row: { id: string; principal: string; method: string; token_id: string | null; created_at: string; expires_at: string }): ConsoleSession {
    return { id: row.id, principal: row.principal, method: row.method === 'token' || row.method === 'sso' ? row.method : 'password', token_id: row.token_id, created_at: row.created_at, expires_at: row.expires_at };
  }

  return {
    /**
     * Opens a session (audited as console.sign_in) and returns its secret, which only the cookie holds. It lasts
     * CONSOLE_SESSION_TTL_SECONDS, or less when the token signed in with ends sooner, or `notAfter` (what single
     * sign-on allows) comes first.
     */
    async open(o: { principal: string; method: ConsoleSignInMethod; tokenId: string | null; tokenExpires: string | null; source: string | null; notAfter?: string }): Promise<{ secret: string; session: ConsoleSession }> {
      const secret = randomBytes(32).toString('base64url');
      const now = clock.now();
      const ttlEnd = new Date(now.getTime() + CONSOLE_SESSION_TTL_SECONDS * 1000).toISOString();
      const expires = [o.tokenExpires, o.notAfter].reduce<string>((end, t) => (t && t < end ? t : end), ttlEnd);
      const row = { id: `cs_${randomBase32(16)}`, hash: hashToken(secret), principal: o.principal, method: o.method, token_id: o.tokenId, source: o.source, created_at: now.toISOString(), expires_at: expires };
      await uow(async (trx, rec) => {
        await trx.deleteFrom('console_sessions').where('expires_at', '<=', row.created_at).execute();
        await trx.insertInto('console_sessions').values(row).execute();
        rec.audit({ actor: o.principal, action: 'console.sign_in', target: o.principal, source: o.source, details: { method: o.method, console_session_id: row.id, token_id: o.tokenId, expires_at: expires } });
      });
      return { secret, session: view(row) };
    },

    /** The session `secret` opens; undefined when it opens none at all. An ended one is deleted and says why. */
    async find(secret: string): Promise<ConsoleSessionLookup | undefined> {
      const row = await store.db.selectFrom('console_sessions').selectAll().where('hash', '=', hashToken(secret)).executeTakeFirst();
      if (!row) return undefined;
      if (row.expires_at <= clock.now().toISOString()) {
        await store.db.deleteFrom('console_sessions').where('id', '=', row.id).execute();
        return { ended: 'Your console session has ended (it expired or you signed out); sign in again.' };
      }
      if (row.token_id) {
        const t = await deps.tokens.byId(row.token_id);
        if (!t?.valid) {
          await store.db.deleteFrom('console_sessions').where('id', '=', row.id).execute();
          return { ended: 'The access token you signed in with has expired or was revoked; sign in again.' };
        }
      }
      return { session: view(row) };
    },

    /**
     * Ends the session `secret` opens, after `check` (the caller's CSRF check) passes: deleted, the tokens minted in
     * it revoked (and with them the database sessions opened with those), audited. False when there was none.
     */
    async signOut(secret: string, source: string | null, check: (s: ConsoleSession) => void): Promise<boolean> {
      const row = await store.db.selectFrom('console_sessions').selectAll().where('hash', '=', hashToken(secret)).executeTakeFirst();
      if (!row) return false;
      check(view(row));
      await uow(async (trx, rec) => {
        await trx.deleteFrom('console_sessions').where('id', '=', row.id).execute();
        const revoked = await deps.tokens.revokeMintedIn(trx, rec, [row.id], row.principal, source, `${row.principal} signed out of the console session that minted it`);
        rec.audit({ actor: row.principal, action: 'console.sign_out', target: row.principal, source, details: { console_session_id: row.id, method: row.method, tokens_revoked: revoked } });
      });
      return true;
    },
  };
}

export type ConsoleSessions = ReturnType<typeof makeConsoleSessions>;
