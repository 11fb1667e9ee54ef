// Access tokens: created once and shown once, stored only as a SHA-256 hash and a SCRAM verifier.
import { createHash, randomBytes } from 'node:crypto';
import { AirlockError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { Caller, Principal, TokenRecord } from '../domain/model.js';
import { principalSalt, scramVerifier, SCRAM_ITERATIONS } from '../domain/scram.js';
import { nativeVerifier } from '../domain/mysql-native.js';
import { formatDuration } from '../domain/duration.js';
import type { Store } from '../store/store.js';
import { toToken } from '../store/records.js';
import type { Recorder, UnitOfWork } from './unit-of-work.js';
import type { Executor } from '../store/store.js';
import type { AuditLog } from '../audit/audit-log.js';

export const TOKEN_PREFIX = 'alk_';
const MAX_TTL_SECONDS = 366 * 86400;
/** What a token Airlock accepts looks like: the prefix, then base64url text (a minted one has 43 characters). */
const TOKEN_SHAPE = /^alk_[A-Za-z0-9_-]{32,196}$/;

/**
 * Refuses a token given to the server (AIRLOCK_BOOTSTRAP_TOKEN) that authenticate() would refuse on every call, or
 * that is too short to be a secret.
 */
export function checkTokenShape(token: string, where: string): void {
  if (TOKEN_SHAPE.test(token)) return;
  throw new AirlockError('AIRLOCK_CONFIG_INVALID', `${where} is not an Airlock token. A token is "alk_" followed by 32 to 196 characters of A-Z, a-z, 0-9, "_" and "-" (the tokens Airlock makes are alk_ and 43 more); make one with: node -e "console.log('alk_' + require('crypto').randomBytes(32).toString('base64url'))"`);
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export interface PolicyView {
  principal(name: string): Principal | undefined;
  isAdmin(p: Principal): boolean;
}

export function makeTokenService(deps: { store: Store; clock: Clock; uow: UnitOfWork; audit: Pick<AuditLog, 'append'>; policy: () => PolicyView }) {
  const { store, clock, uow } = deps;

  /** Live sessions opened with the token end on this change, here and (over the store) on every other process. */
  function announceRevoked(rec: Recorder, id: string, principal: string, time: string, message: string): void {
    rec.change({ kind: 'token', id, event: 'revoked', principal, time, message });
  }

  /**
   * Revokes the principal's earlier connect tokens for the grant, so each `airlock connect` leaves one valid token
   * per grant. They stop logging in; sessions already open with them go on until the grant (or the token's own
   * expiry, which is the grant's) ends them: a second `airlock connect` in another terminal must not end the psql
   * running in the first. That is why no revocation is announced to live sessions here (docs/postgres-gateway.md).
   */
  async function replaceConnectTokens(trx: Executor, rec: Recorder, principal: string, grantId: string, caller: Caller): Promise<string[]> {
    const now = clock.now().toISOString();
    const old = await trx.selectFrom('tokens').select('id').where('grant_id', '=', grantId).where('principal', '=', principal).where('revoked_at', 'is', null).where('expires_at', '>', now).execute();
    if (old.length === 0) return [];
    const ids = old.map((t) => t.id);
    await trx.updateTable('tokens').set({ revoked_at: now }).where('id', 'in', ids).where('revoked_at', 'is', null).execute();
    for (const id of ids) {
      rec.audit({ actor: caller.principal.name, action: 'token.revoke', target: principal, source: caller.source, details: { token_id: id, grant_id: grantId, reason: 'replaced by a newer connect token for the same grant; sessions already open with it continue' } });
    }
    return ids;
  }

  function mint(): string {
    return TOKEN_PREFIX + randomBytes(32).toString('base64url');
  }

  async function insert(token: string, principal: string, ttlSeconds: number, createdBy: string, label: string | null, trx = store.db, consoleSession: { id: string; expires_at: string } | null = null, grantId: string | null = null) {
    const now = clock.now();
    const asked = new Date(now.getTime() + ttlSeconds * 1000).toISOString();
    const v = scramVerifier(token, principalSalt(principal));
    const row = {
      id: newId('tok'),
      principal,
      hash: hashToken(token),
      scram_stored_key: v.stored_key.toString('hex'),
      scram_server_key: v.server_key.toString('hex'),
      mysql_native_verifier: nativeVerifier(token).toString('hex'),
      label,
      created_at: now.toISOString(),
      // Minted in a console session: it cannot outlive it (and sign-out revokes it).
      expires_at: consoleSession && consoleSession.expires_at < asked ? consoleSession.expires_at : asked,
      revoked_at: null,
      created_by: createdBy,
      console_session_id: consoleSession?.id ?? null,
      grant_id: grantId,
    };
    await trx.insertInto('tokens').values(row).execute();
    return toToken(row);
  }

  return {
    /**
     * Admins create tokens for anyone; others only for themselves and never outliving the token they use. With
     * `grantId` (what `airlock connect` asks for) the token is for that grant of the principal: it lives no longer
     * than the grant, and it replaces the principal's previous token for the grant (see replaceConnectTokens).
     */
    async create(caller: Caller, principalName: string, ttlSeconds: number, label: string | null = null, grantId: string | null = null): Promise<{ token: string; record: TokenRecord }> {
      const policy = deps.policy();
      const target = policy.principal(principalName);
      if (!target) throw new AirlockError('AIRLOCK_UNKNOWN_PRINCIPAL', `There is no principal named "${principalName}" in the policy.`);
      if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_TTL_SECONDS) {
        throw new AirlockError('AIRLOCK_BAD_DURATION', `A token lives between 1s and ${formatDuration(MAX_TTL_SECONDS)}; use e.g. --ttl 8h.`);
      }
      const admin = policy.isAdmin(caller.principal);
      if (!admin && caller.principal.name !== principalName) {
        throw new AirlockError('AIRLOCK_FORBIDDEN', 'Only an admin can create tokens for someone else.');
      }
      if (!admin && caller.token_id) {
        const own = await store.db.selectFrom('tokens').select('expires_at').where('id', '=', caller.token_id).executeTakeFirst();
        const limit = own ? (new Date(own.expires_at).getTime() - clock.now().getTime()) / 1000 : 0;
        // A connect token asks for "as long as the grant": it gets as much of that as the caller's own token allows.
        if (grantId && limit >= 1) ttlSeconds = Math.min(ttlSeconds, Math.floor(limit));
        if (ttlSeconds > limit) throw new AirlockError('AIRLOCK_BAD_DURATION', `A token you create cannot outlive the one you are using (${formatDuration(Math.max(0, Math.floor(limit)))} left).`);
      }
      const token = mint();
      const record = await uow(async (trx, rec) => {
        // A token someone mints for themselves in a password console session belongs to that session.
        const consoleSession = caller.console_session_id && caller.principal.name === principalName
          ? ((await trx.selectFrom('console_sessions').select(['id', 'expires_at']).where('id', '=', caller.console_session_id).executeTakeFirst()) ?? null)
          : null;
        let ttl = ttlSeconds;
        let replaced: string[] = [];
        if (grantId) {
          const g = await trx.selectFrom('grants').select(['principal', 'status', 'expires_at']).where('id', '=', grantId).executeTakeFirst();
          if (!g || g.principal !== principalName) throw new AirlockError('AIRLOCK_NOT_FOUND', `${principalName} has no grant ${grantId}.`);
          const left = Math.floor((Date.parse(g.expires_at) - clock.now().getTime()) / 1000);
          if (g.status !== 'active' || left <= 0) throw new AirlockError('AIRLOCK_GRANT_NOT_ACTIVE', `Grant ${grantId} is not active any more; request access again.`);
          ttl = Math.min(ttl, left);
          replaced = await replaceConnectTokens(trx, rec, principalName, grantId, caller);
        }
        const r = await insert(token, principalName, ttl, caller.principal.name, label, trx, consoleSession, grantId);
        rec.audit({ actor: caller.principal.name, action: 'token.create', target: principalName, source: caller.source, details: { token_id: r.id, expires_at: r.expires_at, label, console_session_id: consoleSession?.id ?? null, ...(grantId ? { grant_id: grantId, replaces: replaced } : {}) } });
        return r;
      });
      return { token, record };
    },

    /** Makes sure `token` exists for the bootstrap admin (AIRLOCK_BOOTSTRAP_TOKEN); returns false when it already did. */
    async ensure(token: string, principal: string, ttlSeconds: number, label: string): Promise<boolean> {
      const hash = hashToken(token);
      const now = clock.now().toISOString();
      const existing = await store.db.selectFrom('tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
      if (existing && existing.revoked_at === null && existing.expires_at > now && existing.principal === principal) return false;
      await uow(async (trx, rec) => {
        if (existing) await trx.deleteFrom('tokens').where('id', '=', existing.id).execute();
        const r = await insert(token, principal, ttlSeconds, 'airlock', label, trx);
        rec.audit({ actor: 'airlock', action: 'token.bootstrap', target: principal, details: { token_id: r.id, expires_at: r.expires_at, label } });
      });
      return true;
    },

    /** Checks a bearer token; throws a clear error (and audits the refusal) when it is not valid. */
    async authenticate(token: string, source: string | null): Promise<Caller> {
      const refuse = async (code: 'AIRLOCK_TOKEN_INVALID' | 'AIRLOCK_TOKEN_EXPIRED', message: string, details: Record<string, unknown>) => {
        await deps.audit.append({ actor: (details.principal as string) ?? 'unknown', action: 'auth.refused', source, details: { ...details, reason: code } });
        throw new AirlockError(code, message);
      };
      if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) {
        return refuse('AIRLOCK_TOKEN_INVALID', 'This is not an Airlock token. Tokens start with "alk_"; get one with `airlock token create` or from your admin.', {});
      }
      const row = await store.db.selectFrom('tokens').selectAll().where('hash', '=', hashToken(token)).executeTakeFirst();
      if (!row) return refuse('AIRLOCK_TOKEN_INVALID', 'The token is not known (it may have been revoked or mistyped). Ask for a new one.', {});
      if (row.revoked_at) return refuse('AIRLOCK_TOKEN_INVALID', `The token was revoked at ${row.revoked_at}. Ask for a new one.`, { principal: row.principal, token_id: row.id });
      if (row.expires_at <= clock.now().toISOString()) {
        return refuse('AIRLOCK_TOKEN_EXPIRED', `The token expired at ${row.expires_at}. Log in again or ask for a new one.`, { principal: row.principal, token_id: row.id });
      }
      const principal = deps.policy().principal(row.principal);
      if (!principal) return refuse('AIRLOCK_TOKEN_INVALID', `The token belongs to "${row.principal}", who is no longer in the policy.`, { principal: row.principal, token_id: row.id });
      return { principal, source, token_id: row.id };
    },

    /** SCRAM material for every valid token of a principal (for database logins). */
    async scramCredentials(principalName: string) {
      const rows = await store.db
        .selectFrom('tokens')
        .select(['id', 'scram_stored_key', 'scram_server_key', 'expires_at'])
        .where('principal', '=', principalName)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', clock.now().toISOString())
        .execute();
      return {
        salt: principalSalt(principalName),
        iterations: SCRAM_ITERATIONS,
        keys: rows.map((r) => ({ token_id: r.id, stored_key: Buffer.from(r.scram_stored_key, 'hex'), server_key: Buffer.from(r.scram_server_key, 'hex'), expires_at: r.expires_at })),
      };
    },

    /** mysql_native_password verifiers of every valid token of a principal (for MySQL logins). */
    async mysqlNativeCredentials(principalName: string) {
      const rows = await store.db
        .selectFrom('tokens')
        .select(['id', 'mysql_native_verifier', 'expires_at'])
        .where('principal', '=', principalName)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', clock.now().toISOString())
        .execute();
      const withV = rows.filter((r) => r.mysql_native_verifier);
      return {
        keys: withV.map((r) => ({ token_id: r.id, verifier: Buffer.from(r.mysql_native_verifier!, 'hex'), expires_at: r.expires_at })),
        without_verifier: rows.length - withV.length,
      };
    },

    async byId(id: string): Promise<(TokenRecord & { valid: boolean }) | undefined> {
      const row = await store.db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) return undefined;
      return { ...toToken(row), valid: row.revoked_at === null && row.expires_at > clock.now().toISOString() };
    },

    async list(principal?: string): Promise<TokenRecord[]> {
      let q = store.db.selectFrom('tokens').selectAll().orderBy('created_at', 'desc');
      if (principal) q = q.where('principal', '=', principal);
      return (await q.execute()).map(toToken);
    },

    async revoke(caller: Caller, id: string): Promise<TokenRecord> {
      const policy = deps.policy();
      return uow(async (trx, rec) => {
        const row = await trx.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
        if (!row) throw new AirlockError('AIRLOCK_NOT_FOUND', `There is no token ${id}.`);
        if (!policy.isAdmin(caller.principal) && row.principal !== caller.principal.name) throw new AirlockError('AIRLOCK_FORBIDDEN', 'Only an admin can revoke someone else\'s token.');
        const now = clock.now().toISOString();
        // A replaced connect token was revoked without ending its sessions (replaceConnectTokens): revoking it
        // now is what ends those still open. Otherwise revoking a revoked token changes nothing, and records nothing.
        const changes = row.revoked_at === null || (row.grant_id !== null && (await trx.selectFrom('sessions').select('id').where('token_id', '=', id).where('ended_at', 'is', null).executeTakeFirst()) !== undefined);
        if (!changes) return toToken(row);
        await trx.updateTable('tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).execute();
        rec.audit({ actor: caller.principal.name, action: 'token.revoke', target: row.principal, source: caller.source, details: { token_id: id } });
        announceRevoked(rec, id, row.principal, now, `the access token this session logged in with was revoked by ${caller.principal.name}`);
        return toToken({ ...row, revoked_at: row.revoked_at ?? now });
      });
    },

    /**
     * Revokes, inside a console session's end (`trx`), the tokens minted in those sessions; returns how many.
     * `why` completes "the access token this session logged in with was revoked: …".
     */
    async revokeMintedIn(trx: Executor, rec: Recorder, consoleSessionIds: readonly string[], actor: string, source: string | null, why: string): Promise<number> {
      if (consoleSessionIds.length === 0) return 0;
      const rows = await trx.selectFrom('tokens').select(['id', 'principal', 'console_session_id']).where('console_session_id', 'in', consoleSessionIds).where('revoked_at', 'is', null).execute();
      if (rows.length === 0) return 0;
      const now = clock.now().toISOString();
      await trx.updateTable('tokens').set({ revoked_at: now }).where('id', 'in', rows.map((r) => r.id)).where('revoked_at', 'is', null).execute();
      for (const r of rows) {
        rec.audit({ actor, action: 'token.revoke', target: r.principal, source, details: { token_id: r.id, console_session_id: r.console_session_id, reason: why } });
        announceRevoked(rec, r.id, r.principal, now, `the access token this session logged in with was revoked: ${why}`);
      }
      return rows.length;
    },
  };
}

export type TokenService = ReturnType<typeof makeTokenService>;
