// Gateway sessions, live and ended, as people look them up: one row each from the sessions table (kept with the
// audit events, see src/audit/session-rows.ts), joined with what the live registry knows now; and one session's
// statement timeline from its audit events.
import { AirlockError } from '../domain/errors.js';
import type { AuditEvent, Caller } from '../domain/model.js';
import type { Clock } from '../domain/clock.js';
import type { Selectable } from 'kysely';
import type { SessionsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { text } from '../store/session-lifecycle.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { LiveSessionInfo, SessionRegistry } from './session-registry.js';
import type { Visibility } from './visibility.js';

export const HISTORY_DAYS = 7;

export interface SessionSummary {
  id: string;
  protocol: string;
  principal: string;
  resource: string | null;
  role: string | null;
  grant_id: string | null;
  source: string | null;
  started_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
  killed_by: string | null;
  /** Statements so far, counting one that is still running. */
  statements: number | null;
  /** Of those, sent to the database and not answered yet (live sessions on this process; else null). */
  statements_running: number | null;
  duration_ms: number | null;
  live: boolean;
}

export interface StatementEntry {
  seq: number;
  time: string;
  text: string;
  fingerprint: string | null;
  decision: string;
  rule: string | null;
  rows: number | null;
  duration_ms: number | null;
  error: string | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function summarize(r: Selectable<SessionsTable>, live: LiveSessionInfo | undefined): SessionSummary {
  const stored = Number(r.statements);
  const running = live ? (live.statements_running ?? 0) : null;
  return {
    id: r.id, protocol: r.protocol, principal: r.principal, resource: r.resource, role: r.role, grant_id: r.grant_id, source: r.source,
    started_at: r.started_at, ended_at: r.ended_at, end_reason: r.end_reason, killed_by: r.killed_by,
    // The row counts statements as their events commit; the live session also knows the one running right now.
    statements: live ? Math.max(stored, live.statements + (running ?? 0)) : stored,
    statements_running: running,
    duration_ms: r.duration_ms === null ? null : Number(r.duration_ms),
    live: live !== undefined && r.ended_at === null,
  };
}

export function makeSessionHistory(deps: { store: Store; clock: Clock; audit: Pick<AuditLog, 'flush' | 'events'>; sessions: Pick<SessionRegistry, 'list'>; visibility: Visibility }) {
  const { store, audit, sessions, visibility } = deps;

  function notFound(id: string): AirlockError {
    return new AirlockError('AIRLOCK_NOT_FOUND', `There is no session ${id} that you can see.`);
  }

  return {
    /** Sessions started since `since` (default HISTORY_DAYS ago), newest first: the caller's, or anyone's for admins and auditors. */
    async list(caller: Caller, q: { principal?: string; resource?: string; since?: string; limit: number }): Promise<SessionSummary[]> {
      const principal = visibility.listedPrincipal(caller, q.principal, 'sessions');
      // Statements still queued for the log are committed first, so the counts are those of this moment.
      await audit.flush();
      const since = q.since ? new Date(q.since).toISOString() : new Date(deps.clock.now().getTime() - HISTORY_DAYS * 86400_000).toISOString();
      let query = store.db.selectFrom('sessions').selectAll().where('started_at', '>=', since);
      if (principal) query = query.where('principal', '=', principal);
      if (q.resource) query = query.where('resource', '=', q.resource);
      const rows = await query.orderBy('started_at', 'desc').orderBy('start_seq', 'desc').limit(q.limit).execute();
      const live = new Map(sessions.list().map((s) => [s.id, s]));
      return rows.map((r) => summarize(r, live.get(r.id)));
    },

    /** One session with its statements (text, decision, rule, rows, duration, error), at most `limit` of them. */
    async timeline(caller: Caller, id: string, limit: number): Promise<{ session: SessionSummary; statements: StatementEntry[]; truncated: boolean }> {
      await audit.flush();
      const row = await store.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row || !visibility.canSeeSession(caller, row)) throw notFound(id);
      const session = summarize(row, sessions.list({ session_id: id })[0]);
      const statements: StatementEntry[] = [];
      let truncated = false;
      for await (const e of audit.events({ afterSeq: Number(row.start_seq), target: row.resource ?? undefined })) {
        if (e.details.session_id !== id) continue;
        if (e.action === 'session.end') break;
        if (e.action !== 'statement') continue;
        if (statements.length >= limit) {
          truncated = true; // one more is enough to say so: the rest of a long session need not be read
          break;
        }
        statements.push(statementEntry(e));
      }
      return { session, statements, truncated };
    },
  };
}

function statementEntry(e: AuditEvent): StatementEntry {
  const d = e.details;
  return { seq: e.seq, time: e.time, text: text(d.text) ?? '', fingerprint: text(d.fingerprint), decision: text(d.decision) ?? 'allowed', rule: text(d.rule), rows: num(d.rows), duration_ms: num(d.duration_ms), error: text(d.error) };
}

export type SessionHistory = ReturnType<typeof makeSessionHistory>;
