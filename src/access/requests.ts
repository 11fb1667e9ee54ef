// Requests: a principal asks for a role on a resource for a while, with a reason; pending until reviewed,
// approved by rule, cancelled or timed out. Break-glass grants at once and asks for a review afterwards.
import { sql } from 'kysely';
import { AirlockError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import { formatDuration } from '../domain/duration.js';
import { newId } from '../domain/ids.js';
import type { AccessRequest, Caller, RequestStatus } from '../domain/model.js';
import { checkRequest } from '../policy/decide.js';
import type { Policy } from '../policy/compile.js';
import type { Executor, Store } from '../store/store.js';
import { toRequest } from '../store/records.js';
import type { UnitOfWork } from './unit-of-work.js';
import type { GrantService } from './grants.js';
import type { AuditLog } from '../audit/audit-log.js';
import { refuseIfLocked } from './locks.js';

export interface NewRequest {
  resource: string;
  role: string;
  duration_seconds: number;
  reason: string;
  ticket?: string | null | undefined;
  break_glass?: boolean | undefined;
  extends_grant_id?: string | null | undefined;
}

export function describeEnded(r: AccessRequest): string {
  switch (r.status) {
    case 'approved':
      return `was already approved${r.decided_by ? ` by ${r.decided_by}` : ''} at ${r.decided_at}`;
    case 'denied':
      return `was denied by ${r.decided_by} at ${r.decided_at}`;
    case 'cancelled':
      return `was cancelled by ${r.decided_by} at ${r.decided_at}`;
    case 'timed_out':
      return `timed out at ${r.decided_at} without enough approvals`;
    default:
      return 'is pending';
  }
}

/**
 * The request `ask` would repeat, as the refusal to give: an active grant of the same role on the same resource
 * (ask for more time with --extends instead), or a pending request for it. An extension repeats only a pending
 * extension of the same grant; break-glass is not held back by a pending request (it cannot wait for a review).
 */
export async function duplicateOf(db: Executor, principal: string, ask: NewRequest, now: Date): Promise<AirlockError | null> {
  if (!ask.extends_grant_id) {
    const g = await db.selectFrom('grants').selectAll().where('principal', '=', principal).where('resource', '=', ask.resource).where('role', '=', ask.role)
      .where('status', '=', 'active').where('expires_at', '>', now.toISOString()).orderBy('expires_at', 'desc').executeTakeFirst();
    if (g) {
      const left = formatDuration(Math.ceil((Date.parse(g.expires_at) - now.getTime()) / 1000));
      return new AirlockError('AIRLOCK_DUPLICATE_REQUEST', `You already hold ${ask.role} on ${ask.resource}: grant ${g.id}, until ${g.expires_at} (${left} left). To keep it longer, ask for an extension: airlock request ${ask.resource} --role ${ask.role} --for DURATION --reason "…" --extends ${g.id}`, { grant_id: g.id, expires_at: g.expires_at });
    }
    if (ask.break_glass) return null;
  }
  let q = db.selectFrom('requests').select(['id', 'created_at', 'timeout_at']).where('principal', '=', principal).where('resource', '=', ask.resource).where('role', '=', ask.role).where('status', '=', 'pending');
  q = ask.extends_grant_id ? q.where('extends_grant_id', '=', ask.extends_grant_id) : q.where('extends_grant_id', 'is', null);
  const r = await q.orderBy('created_at').executeTakeFirst();
  if (!r) return null;
  const what = ask.extends_grant_id ? `an extension of grant ${ask.extends_grant_id}` : `${ask.role} on ${ask.resource}`;
  return new AirlockError('AIRLOCK_DUPLICATE_REQUEST', `Your request ${r.id} for ${what} is still pending (made ${r.created_at}, it times out at ${r.timeout_at}). Wait for its review (airlock requests lists it), or cancel it first: airlock cancel ${r.id}`, { request_id: r.id });
}

export function makeRequestService(deps: { store: Store; clock: Clock; uow: UnitOfWork; grants: GrantService; audit: Pick<AuditLog, 'append'>; policy: () => Policy }) {
  const { store, clock, uow, grants } = deps;

  async function refused<T>(caller: Caller, action: string, target: string | null, e: unknown, details: Record<string, unknown>): Promise<T> {
    if (e instanceof AirlockError) {
      await deps.audit.append({ actor: caller.principal.name, action, target, source: caller.source, details: { ...details, code: e.code, message: e.message } });
    }
    throw e;
  }

  return {
    async create(caller: Caller, ask: NewRequest): Promise<AccessRequest> {
      const policy = deps.policy();
      const p = caller.principal;
      const attempt = { resource: ask.resource, role: ask.role, duration_seconds: ask.duration_seconds, break_glass: Boolean(ask.break_glass) };
      let role;
      try {
        ({ role } = checkRequest(policy, p, ask));
        await refuseIfLocked(store.db, { principal: p.name, resource: ask.resource, role: ask.role });
        if (ask.extends_grant_id) {
          const g = await grants.get(ask.extends_grant_id);
          if (!g || g.principal !== p.name) throw new AirlockError('AIRLOCK_NOT_FOUND', `You have no grant ${ask.extends_grant_id} to extend.`);
          if (g.status !== 'active') throw new AirlockError('AIRLOCK_GRANT_NOT_ACTIVE', `Grant ${g.id} is ${g.status}; request new access instead of an extension.`);
          if (g.resource !== ask.resource || g.role !== ask.role) throw new AirlockError('AIRLOCK_BAD_INPUT', `An extension must be for the same resource and role as grant ${g.id} (${g.resource}, ${g.role}).`);
        }
        const dup = await duplicateOf(store.db, p.name, ask, clock.now());
        if (dup) throw dup;
      } catch (e) {
        return refused(caller, 'request.refused', ask.resource, e, attempt);
      }
      const now = clock.now();
      const autoRule = ask.break_glass ? -1 : policy.autoApproveRule(p, role, ask.duration_seconds, now);
      const created = uow(async (trx, rec) => {
        // Two identical requests at once: the second one's transaction starts after the first commits (SQLite's
        // begin immediate; an advisory lock on PostgreSQL) and finds it.
        if (store.dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtext(${JSON.stringify(['airlock-request', p.name, ask.resource, ask.role])}))`.execute(trx);
        const dup = await duplicateOf(trx, p.name, ask, now);
        if (dup) throw dup;
        const req: AccessRequest = {
          id: newId('req'),
          principal: p.name,
          resource: ask.resource,
          role: ask.role,
          duration_seconds: ask.duration_seconds,
          reason: ask.reason.trim(),
          ticket: ask.ticket?.trim() || null,
          status: 'pending',
          break_glass: Boolean(ask.break_glass),
          auto_approved_by: null,
          extends_grant_id: ask.extends_grant_id ?? null,
          grant_id: null,
          created_at: now.toISOString(),
          updated_at: now.toISOString(),
          timeout_at: new Date(now.getTime() + role.pending_timeout * 1000).toISOString(),
          decided_at: null,
          decided_by: null,
          source_addr: caller.source,
        };
        rec.audit({ actor: p.name, action: 'request.create', target: req.resource, source: caller.source, details: { request_id: req.id, role: req.role, duration_seconds: req.duration_seconds, reason: req.reason, ticket: req.ticket, break_glass: req.break_glass, extends_grant_id: req.extends_grant_id } });
        if (req.break_glass || autoRule >= 0) {
          req.status = 'approved';
          req.decided_at = req.created_at;
          req.decided_by = req.break_glass ? 'break-glass' : `rule:roles.${role.name}.approval.auto_approve[${autoRule}]`;
          req.auto_approved_by = req.break_glass ? null : `rule:${autoRule}`;
        }
        await trx.insertInto('requests').values({ ...req, break_glass: req.break_glass ? 1 : 0 }).execute();
        if (req.status === 'approved') {
          rec.audit({ actor: req.break_glass ? p.name : 'airlock', action: req.break_glass ? 'request.break_glass' : 'request.auto_approve', target: req.resource, source: caller.source, details: { request_id: req.id, rule: req.decided_by } });
          const g = await grants.activateInTx(trx, rec, req, req.break_glass ? p.name : 'airlock');
          req.grant_id = g.id;
          await trx.updateTable('requests').set({ grant_id: g.id }).where('id', '=', req.id).execute();
        }
        rec.change({ kind: 'request', id: req.id, event: req.break_glass ? 'break_glass' : req.status === 'approved' ? 'approved' : 'created', status: req.status, principal: req.principal, resource: req.resource, role: req.role, time: req.created_at });
        return req;
      });
      return created.catch((e: unknown) => (e instanceof AirlockError && e.code === 'AIRLOCK_DUPLICATE_REQUEST' ? refused(caller, 'request.refused', ask.resource, e, attempt) : Promise.reject(e)));
    },

    async cancel(caller: Caller, id: string): Promise<AccessRequest> {
      return uow(async (trx, rec) => {
        const row = await trx.selectFrom('requests').selectAll().where('id', '=', id).executeTakeFirst();
        if (!row) throw new AirlockError('AIRLOCK_NOT_FOUND', `There is no request ${id}.`);
        if (row.principal !== caller.principal.name) throw new AirlockError('AIRLOCK_NOT_REQUESTER', 'Only the requester can cancel a request.');
        const now = clock.now().toISOString();
        const updated = await trx.updateTable('requests').set({ status: 'cancelled', decided_at: now, decided_by: caller.principal.name, updated_at: now }).where('id', '=', id).where('status', '=', 'pending').returningAll().executeTakeFirst();
        if (!updated) throw new AirlockError('AIRLOCK_REQUEST_NOT_PENDING', `Request ${id} ${describeEnded(toRequest(row))}; it cannot be cancelled.`);
        rec.audit({ actor: caller.principal.name, action: 'request.cancel', target: row.resource, source: caller.source, details: { request_id: id } });
        rec.change({ kind: 'request', id, event: 'cancelled', status: 'cancelled', actor: caller.principal.name, principal: row.principal, resource: row.resource, role: row.role, time: now });
        return toRequest(updated);
      });
    },

    /** Times out pending requests whose timeout has passed. */
    async timeOut(ids: string[]): Promise<number> {
      if (ids.length === 0) return 0;
      return uow(async (trx, rec) => {
        const now = clock.now().toISOString();
        let n = 0;
        for (const id of ids) {
          const row = await trx.updateTable('requests').set({ status: 'timed_out', decided_at: now, decided_by: 'airlock', updated_at: now }).where('id', '=', id).where('status', '=', 'pending').where('timeout_at', '<=', now).returningAll().executeTakeFirst();
          if (!row) continue;
          n++;
          rec.audit({ actor: 'airlock', action: 'request.timeout', target: row.resource, details: { request_id: id, timeout_at: row.timeout_at } });
          rec.change({ kind: 'request', id, event: 'timed_out', status: 'timed_out', principal: row.principal, resource: row.resource, role: row.role, time: now });
        }
        return n;
      });
    },

    async get(id: string): Promise<AccessRequest | undefined> {
      const row = await store.db.selectFrom('requests').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toRequest(row) : undefined;
    },

    async list(filter: { principal?: string; status?: RequestStatus; limit?: number } = {}): Promise<AccessRequest[]> {
      let q = store.db.selectFrom('requests').selectAll().orderBy('created_at', 'desc').limit(filter.limit ?? 500);
      if (filter.principal) q = q.where('principal', '=', filter.principal);
      if (filter.status) q = q.where('status', '=', filter.status);
      return (await q.execute()).map(toRequest);
    },

    /** Pending requests this caller may decide now (approver of the role, not their own unless allowed). */
    async reviewable(caller: Caller): Promise<AccessRequest[]> {
      const policy = deps.policy();
      const pending = await this.list({ status: 'pending' });
      return pending.filter((r) => {
        const role = policy.role(r.role);
        if (!role || !policy.isApprover(caller.principal, role)) return false;
        return r.principal !== caller.principal.name || role.approval.allow_self_approval;
      });
    },

    async dueForTimeout(now: Date, limit = 1000): Promise<{ id: string; timeout_at: string }[]> {
      return store.db.selectFrom('requests').select(['id', 'timeout_at']).where('status', '=', 'pending').where('timeout_at', '<=', now.toISOString()).orderBy('timeout_at').limit(limit).execute();
    },

    async pendingSchedule(): Promise<{ id: string; timeout_at: string }[]> {
      return store.db.selectFrom('requests').select(['id', 'timeout_at']).where('status', '=', 'pending').execute();
    },
  };
}

export type RequestService = ReturnType<typeof makeRequestService>;
