// Grants: created when a request is approved, active until expires_at, then expired — or revoked earlier.
// Ending is a conditional update, so two processes (or a revoke racing the expiry) end a grant exactly once.
import { AirlockError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { AccessRequest, Caller, Grant, GrantStatus, LockTargetKind } from '../domain/model.js';
import type { Store, Executor } from '../store/store.js';
import { toGrant } from '../store/records.js';
import type { Recorder, UnitOfWork } from './unit-of-work.js';

export interface GrantEnded {
  grant: Grant;
  /** A sentence for the user whose sessions end, e.g. "your grant for prod-orders expired at …". */
  message: string;
}

export interface GrantHooks {
  activated: ((g: Grant) => void | Promise<void>)[];
  ended: ((e: GrantEnded) => void | Promise<void>)[];
}

export function makeGrantService(deps: { store: Store; clock: Clock; uow: UnitOfWork; isAdmin: (c: Caller) => boolean }) {
  const { store, clock, uow } = deps;
  const hooks: GrantHooks = { activated: [], ended: [] };

  async function runHooks<T>(list: ((x: T) => void | Promise<void>)[], x: T): Promise<void> {
    for (const h of list) {
      try {
        await h(x);
      } catch {
        // A failing hook (say, an unreachable database while dropping a role) must not undo the grant's end;
        // the hook reports its own failure, and start-up cleanup retries.
      }
    }
  }

  /** Writes the grant for an approved request inside the approving transaction; its clock starts now. */
  async function activateInTx(trx: Executor, rec: Recorder, req: AccessRequest, actor: string): Promise<Grant> {
    const now = clock.now();
    const g: Grant = {
      id: newId('grt'),
      request_id: req.id,
      principal: req.principal,
      resource: req.resource,
      role: req.role,
      status: 'active',
      starts_at: now.toISOString(),
      expires_at: new Date(now.getTime() + req.duration_seconds * 1000).toISOString(),
      ended_at: null,
      end_reason: null,
      ended_by: null,
      break_glass: req.break_glass,
      needs_review: req.break_glass,
    };
    await trx.insertInto('grants').values({ ...g, break_glass: g.break_glass ? 1 : 0, needs_review: g.needs_review ? 1 : 0 }).execute();
    rec.audit({ actor, action: 'grant.activate', target: g.resource, details: { grant_id: g.id, request_id: req.id, principal: g.principal, role: g.role, starts_at: g.starts_at, expires_at: g.expires_at, break_glass: g.break_glass } });
    rec.change({ kind: 'grant', id: g.id, event: 'activated', status: 'active', principal: g.principal, resource: g.resource, role: g.role, time: g.starts_at });
    rec.afterCommit(() => runHooks(hooks.activated, g));
    return g;
  }

  /** Ends one active grant inside trx; returns it, or undefined when it was not active any more. */
  async function endInTx(trx: Executor, rec: Recorder, id: string, status: Exclude<GrantStatus, 'active'>, reason: string, actor: string, message: string): Promise<Grant | undefined> {
    const now = clock.now().toISOString();
    const row = await trx
      .updateTable('grants')
      .set({ status, ended_at: now, end_reason: reason, ended_by: actor })
      .where('id', '=', id)
      .where('status', '=', 'active')
      .returningAll()
      .executeTakeFirst();
    if (!row) return undefined;
    const g = toGrant(row);
    rec.audit({ actor, action: status === 'expired' ? 'grant.expire' : 'grant.revoke', target: g.resource, details: { grant_id: g.id, principal: g.principal, role: g.role, reason, expires_at: g.expires_at, ended_at: now } });
    rec.change({ kind: 'grant', id: g.id, event: status, status, principal: g.principal, resource: g.resource, role: g.role, time: now, message });
    rec.afterCommit(() => runHooks(hooks.ended, { grant: g, message }));
    return g;
  }

  return {
    hooks,
    activateInTx,
    endInTx,

    async get(id: string): Promise<Grant | undefined> {
      const row = await store.db.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toGrant(row) : undefined;
    },

    async list(filter: { principal?: string; resource?: string; status?: GrantStatus; limit?: number } = {}): Promise<Grant[]> {
      let q = store.db.selectFrom('grants').selectAll().orderBy('starts_at', 'desc').limit(filter.limit ?? 500);
      if (filter.principal) q = q.where('principal', '=', filter.principal);
      if (filter.resource) q = q.where('resource', '=', filter.resource);
      if (filter.status) q = q.where('status', '=', filter.status);
      return (await q.execute()).map(toGrant);
    },

    /** The principal's active grant for a resource that has not reached expires_at (the newest, if several). */
    async activeFor(principal: string, resource: string): Promise<Grant | undefined> {
      const row = await store.db
        .selectFrom('grants')
        .selectAll()
        .where('principal', '=', principal)
        .where('resource', '=', resource)
        .where('status', '=', 'active')
        .where('expires_at', '>', clock.now().toISOString())
        .orderBy('expires_at', 'desc')
        .executeTakeFirst();
      return row ? toGrant(row) : undefined;
    },

    async revoke(caller: Caller, id: string, reason: string): Promise<Grant> {
      if (!reason.trim()) throw new AirlockError('AIRLOCK_BAD_INPUT', 'Say why you revoke (--reason).');
      return uow(async (trx, rec) => {
        const row = await trx.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
        if (!row) throw new AirlockError('AIRLOCK_NOT_FOUND', `There is no grant ${id}. List them with: airlock grants`);
        if (row.principal !== caller.principal.name && !deps.isAdmin(caller)) {
          throw new AirlockError('AIRLOCK_FORBIDDEN', 'Only an admin or the grantee can revoke a grant.');
        }
        const who = row.principal === caller.principal.name ? 'you' : caller.principal.name;
        const g = await endInTx(trx, rec, id, 'revoked', reason.trim(), caller.principal.name, `your grant for ${row.resource} was revoked by ${who}: ${reason.trim()}`);
        if (!g) throw new AirlockError('AIRLOCK_GRANT_NOT_ACTIVE', `Grant ${id} is already ${row.status} (since ${row.ended_at}).`);
        return g;
      });
    },

    /** Expires every grant in `ids` that is still active: one conditional UPDATE and one transaction per batch. */
    async expire(ids: string[]): Promise<Grant[]> {
      if (ids.length === 0) return [];
      return uow(async (trx, rec) => {
        const now = clock.now().toISOString();
        const out: Grant[] = [];
        // Bounded IN lists: SQLite caps bound parameters per statement.
        for (let i = 0; i < ids.length; i += 500) {
          const rows = await trx
            .updateTable('grants')
            .set({ status: 'expired', ended_at: now, end_reason: 'expired', ended_by: 'airlock' })
            .where('id', 'in', ids.slice(i, i + 500))
            .where('status', '=', 'active')
            .returningAll()
            .execute();
          for (const row of rows) {
            const g = toGrant(row);
            rec.audit({ actor: 'airlock', action: 'grant.expire', target: g.resource, details: { grant_id: g.id, principal: g.principal, role: g.role, reason: 'expired', expires_at: g.expires_at, ended_at: now } });
            const message = `your grant for ${g.resource} expired at ${g.expires_at}`;
            rec.change({ kind: 'grant', id: g.id, event: 'expired', status: 'expired', principal: g.principal, resource: g.resource, role: g.role, time: now, message });
            rec.afterCommit(() => runHooks(hooks.ended, { grant: g, message }));
            out.push(g);
          }
        }
        return out;
      });
    },

    /** Ends active grants hit by a new lock, inside the lock's transaction. */
    async endForLock(trx: Executor, rec: Recorder, m: { kind: LockTargetKind; target: string }, reason: string, actor: string): Promise<number> {
      const rows = await trx.selectFrom('grants').select('id').where('status', '=', 'active').where(m.kind, '=', m.target).execute();
      let n = 0;
      for (const r of rows) if (await endInTx(trx, rec, r.id, 'revoked', `lock: ${reason}`, actor, reason)) n++;
      return n;
    },

    async dueForExpiry(now: Date, limit = 1000): Promise<{ id: string; expires_at: string }[]> {
      return store.db.selectFrom('grants').select(['id', 'expires_at']).where('status', '=', 'active').where('expires_at', '<=', now.toISOString()).orderBy('expires_at').limit(limit).execute();
    },

    async activeSchedule(): Promise<{ id: string; expires_at: string }[]> {
      return store.db.selectFrom('grants').select(['id', 'expires_at']).where('status', '=', 'active').execute();
    },
  };
}

export type GrantService = ReturnType<typeof makeGrantService>;
