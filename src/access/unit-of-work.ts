// One state change = one transaction that also appends its audit events; watchers hear of it only after commit.
import { sql, type Transaction } from 'kysely';
import type { AuditInput, AuditEvent } from '../domain/model.js';
import type { DB } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Change, ChangeBus } from './change-bus.js';

/** The LISTEN/NOTIFY channel that carries committed changes between processes sharing a PostgreSQL store. */
export const CHANGE_CHANNEL = 'airlock_changes';

export interface Recorder {
  audit(e: AuditInput): void;
  change(c: Change): void;
  /** Runs after commit (e.g. ending live sessions of a revoked grant). */
  afterCommit(fn: () => void | Promise<void>): void;
}

export function makeUnitOfWork(deps: { store: Store; audit: Pick<AuditLog, 'appendInTx' | 'published'>; bus: ChangeBus }) {
  return async function unitOfWork<T>(fn: (trx: Transaction<DB>, rec: Recorder) => Promise<T>): Promise<T> {
    const audits: AuditInput[] = [];
    const changes: Change[] = [];
    const after: (() => void | Promise<void>)[] = [];
    let events: AuditEvent[] = [];
    const result = await deps.store.transaction(async (trx) => {
      audits.length = 0;
      changes.length = 0;
      after.length = 0;
      const r = await fn(trx, { audit: (e) => audits.push(e), change: (c) => changes.push(c), afterCommit: (f) => after.push(f) });
      events = await deps.audit.appendInTx(trx, audits);
      // Other processes on the same PostgreSQL store hear of the change when (and only if) this commits.
      if (deps.store.dialect === 'postgres' && changes.length > 0) {
        const payloads = changes.map((c) => JSON.stringify({ ...c, origin: deps.bus.origin }));
        await sql`select pg_notify(${CHANGE_CHANNEL}, p) from unnest(${payloads}::text[]) as p`.execute(trx);
      }
      return r;
    });
    deps.audit.published(events);
    deps.bus.publish(changes);
    for (const f of after) await f();
    return result;
  };
}

export type UnitOfWork = ReturnType<typeof makeUnitOfWork>;
