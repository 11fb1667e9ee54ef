// Locks: an admin's instant block on a principal, resource or role — refuses new requests, grants and sessions.
import { AirlockError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { Caller, Lock, LockTargetKind } from '../domain/model.js';
import type { Store, Executor } from '../store/store.js';
import { toLock } from '../store/records.js';
import type { UnitOfWork } from './unit-of-work.js';

export interface LockSubject {
  principal: string;
  resource: string;
  role: string;
}

export function describeLock(l: Lock): string {
  return `${l.target_kind} "${l.target}" is locked by ${l.created_by} since ${l.created_at}: ${l.reason}`;
}

/** The first active lock that hits any part of the subject. */
export async function findLock(db: Executor, s: LockSubject): Promise<Lock | undefined> {
  const row = await db
    .selectFrom('locks')
    .selectAll()
    .where('lifted_at', 'is', null)
    .where((eb) =>
      eb.or([
        eb.and([eb('target_kind', '=', 'principal'), eb('target', '=', s.principal)]),
        eb.and([eb('target_kind', '=', 'resource'), eb('target', '=', s.resource)]),
        eb.and([eb('target_kind', '=', 'role'), eb('target', '=', s.role)]),
      ]),
    )
    .orderBy('created_at')
    .executeTakeFirst();
  return row ? toLock(row) : undefined;
}

export async function refuseIfLocked(db: Executor, s: LockSubject): Promise<void> {
  const lock = await findLock(db, s);
  if (lock) throw new AirlockError('AIRLOCK_LOCKED', `${capital(describeLock(lock))}. Ask an admin to lift the lock.`, { lock_id: lock.id });
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function makeLockService(deps: {
  store: Store;
  clock: Clock;
  uow: UnitOfWork;
  isAdmin: (c: Caller) => boolean;
  exists: (kind: LockTargetKind, name: string) => boolean;
  /** Ends the matching active grants inside the lock's transaction. */
  endGrantsFor: (trx: Executor, rec: Parameters<Parameters<UnitOfWork>[0]>[1], match: { kind: LockTargetKind; target: string }, reason: string, actor: string) => Promise<number>;
}) {
  const { store, clock, uow } = deps;
  return {
    async create(caller: Caller, kind: LockTargetKind, target: string, reason: string): Promise<{ lock: Lock; grants_ended: number }> {
      if (!deps.isAdmin(caller)) throw new AirlockError('AIRLOCK_FORBIDDEN', 'Only an admin can lock.');
      if (!reason.trim()) throw new AirlockError('AIRLOCK_BAD_INPUT', 'Say why you lock (--reason).');
      if (!deps.exists(kind, target)) throw new AirlockError('AIRLOCK_NOT_FOUND', `There is no ${kind} named "${target}" in the policy.`);
      return uow(async (trx, rec) => {
        const now = clock.now().toISOString();
        const lock: Lock = { id: newId('lck'), target_kind: kind, target, reason: reason.trim(), created_by: caller.principal.name, created_at: now, lifted_at: null, lifted_by: null };
        await trx.insertInto('locks').values(lock).execute();
        const ended = await deps.endGrantsFor(trx, rec, { kind, target }, `${kind} "${target}" was locked by ${caller.principal.name}: ${lock.reason}`, caller.principal.name);
        rec.audit({ actor: caller.principal.name, action: 'lock.create', target: `${kind}:${target}`, source: caller.source, details: { lock_id: lock.id, reason: lock.reason, grants_ended: ended } });
        rec.change({ kind: 'lock', id: lock.id, event: 'created', time: now });
        return { lock, grants_ended: ended };
      });
    },
    async lift(caller: Caller, id: string): Promise<Lock> {
      if (!deps.isAdmin(caller)) throw new AirlockError('AIRLOCK_FORBIDDEN', 'Only an admin can unlock.');
      return uow(async (trx, rec) => {
        const row = await trx.selectFrom('locks').selectAll().where('id', '=', id).executeTakeFirst();
        if (!row) throw new AirlockError('AIRLOCK_NOT_FOUND', `There is no lock ${id}. List them with: airlock lock --list`);
        if (row.lifted_at) throw new AirlockError('AIRLOCK_BAD_INPUT', `Lock ${id} was already lifted at ${row.lifted_at} by ${row.lifted_by}.`);
        const now = clock.now().toISOString();
        await trx.updateTable('locks').set({ lifted_at: now, lifted_by: caller.principal.name }).where('id', '=', id).execute();
        rec.audit({ actor: caller.principal.name, action: 'lock.lift', target: `${row.target_kind}:${row.target}`, source: caller.source, details: { lock_id: id } });
        rec.change({ kind: 'lock', id, event: 'lifted', time: now });
        return toLock({ ...row, lifted_at: now, lifted_by: caller.principal.name });
      });
    },
    async list(opts: { active?: boolean } = {}): Promise<Lock[]> {
      let q = store.db.selectFrom('locks').selectAll().orderBy('created_at', 'desc');
      if (opts.active) q = q.where('lifted_at', 'is', null);
      return (await q.execute()).map(toLock);
    },
  };
}

export type LockService = ReturnType<typeof makeLockService>;
