// A gateway session's row from its lifecycle events (session.start, session.kill, session.end): one rule for the
// audit log, which keeps the sessions table as it appends (src/audit/session-rows.ts), and the migration that made
// the table from the events already logged.
import type { Kysely } from 'kysely';
import type { DB } from './schema.js';

/** A string field of an event's details, or null. */
export const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
/** A whole-number field of an event's details (rounded), or null. */
export const int = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v) : null);

export interface LifecycleEvent {
  seq: number;
  time: string;
  actor: string;
  action: string;
  target: string | null;
  source: string | null;
  /** Canonical JSON. */
  details: string;
}

/** Applies one session.start, session.kill or session.end to the sessions table; other events are ignored. */
export async function applySessionLifecycle(db: Kysely<DB>, r: LifecycleEvent): Promise<void> {
  const d = JSON.parse(r.details) as Record<string, unknown>;
  const id = text(d.session_id);
  if (!id) return;
  if (r.action === 'session.start') {
    await db
      .insertInto('sessions')
      .values({
        id, protocol: text(d.protocol) ?? 'postgres', principal: r.actor, resource: r.target, role: text(d.role), database: text(d.database), grant_id: text(d.grant_id), token_id: text(d.token_id),
        source: r.source, gateway_instance: text(d.gateway_instance), start_seq: Number(r.seq), started_at: r.time, last_statement_at: null, ended_at: null, end_reason: null, duration_ms: null, killed_by: null,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  } else if (r.action === 'session.kill') {
    await db.updateTable('sessions').set({ killed_by: r.actor }).where('id', '=', id).execute();
  } else if (r.action === 'session.end') {
    const statements = int(d.statements);
    await db
      .updateTable('sessions')
      .set({ ended_at: r.time, end_reason: text(d.reason), duration_ms: int(d.duration_ms), ...(statements !== null ? { statements } : {}) })
      .where('id', '=', id)
      .where('ended_at', 'is', null)
      .execute();
  }
}
