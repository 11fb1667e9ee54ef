// At start-up: gateway sessions that an earlier run left without an end (it was killed, or the machine went down)
// get their `session.end` with reason "gateway stopped", so an auditor sees where each one's record stops.
import { sql } from 'kysely';
import type { Clock } from '../domain/clock.js';
import type { AuditInput } from '../domain/model.js';
import type { Store } from '../store/store.js';
import type { AuditLog } from '../audit/audit-log.js';

export const GATEWAY_STOPPED = 'gateway stopped';

/** The meta row holding the seq below which every session.start has been matched with its end. */
const CHECKED_KEY = 'sessions_checked_seq';

/** The PostgreSQL application_name a process gives its store connections, so the others can see it is alive. */
export function instanceAppName(instance: string): string {
  return `airlock:${instance}`;
}

/**
 * The Airlock processes connected to the store now, by their instance id; null for SQLite, which one process
 * holds. A process is seen by its change channel's connection (cluster.ts names it with instanceAppName).
 */
export async function liveInstances(store: Store): Promise<Set<string> | null> {
  if (store.dialect !== 'postgres') return null;
  const r = await sql<{ application_name: string }>`select application_name from pg_stat_activity where application_name like 'airlock:%'`.execute(store.db);
  return new Set(r.rows.map((x) => x.application_name.slice('airlock:'.length)));
}

interface Open {
  seq: number;
  input: AuditInput;
  instance: string | null;
}

/**
 * Ends the sessions no live process holds. A session is left alone when the process recorded in its session.start
 * (`gateway_instance`) is connected to the store, or — written by a version that did not record it — when any
 * other process is. Runs in one transaction that first locks the chain head, so two processes starting at once do
 * not both end a session. Returns how many were ended.
 */
export async function endUnendedSessions(deps: { store: Store; audit: Pick<AuditLog, 'appendInTx'>; clock: Clock; instance: string; live: () => Promise<Set<string> | null> }): Promise<number> {
  const { store } = deps;
  const live = await deps.live();
  return store.transaction(async (trx) => {
    const headQuery = trx.selectFrom('audit_head').select(['seq']).where('id', '=', 1);
    const head = Number((await (store.dialect === 'postgres' ? headQuery.forUpdate() : headQuery).executeTakeFirstOrThrow()).seq);
    const mark = await trx.selectFrom('meta').select('value').where('key', '=', CHECKED_KEY).executeTakeFirst();
    const from = mark ? Number(mark.value) : 0;
    const rows = await trx
      .selectFrom('audit_events')
      .select(['seq', 'actor', 'action', 'target', 'source', 'details'])
      .where('seq', '>', from)
      .where('seq', '<=', head)
      .where('action', 'in', ['session.start', 'session.end'])
      .orderBy('seq')
      .execute();
    const open = new Map<string, Open>();
    for (const r of rows) {
      const d = JSON.parse(r.details) as { session_id?: string; gateway_instance?: string | null; grant_id?: string };
      if (!d.session_id) continue;
      if (r.action === 'session.end') {
        open.delete(d.session_id);
        continue;
      }
      const details = { session_id: d.session_id, grant_id: d.grant_id ?? null, reason: GATEWAY_STOPPED, statements: null, duration_ms: null, gateway_instance: d.gateway_instance ?? null, ended_by_instance: deps.instance };
      open.set(d.session_id, { seq: Number(r.seq), instance: d.gateway_instance ?? null, input: { actor: r.actor, action: 'session.end', target: r.target, source: r.source, details } });
    }
    const ending: AuditInput[] = [];
    let firstKept = Infinity;
    const others = live === null ? [] : [...live].filter((i) => i !== deps.instance);
    for (const o of open.values()) {
      const held = o.instance !== null ? o.instance !== deps.instance && others.includes(o.instance) : others.length > 0;
      if (held) firstKept = Math.min(firstKept, o.seq);
      else ending.push(o.input);
    }
    await deps.audit.appendInTx(trx, ending);
    // Next time, start at the oldest session still held elsewhere (or after everything read now).
    const checked = String(firstKept === Infinity ? head : firstKept - 1);
    if (mark) await trx.updateTable('meta').set({ value: checked }).where('key', '=', CHECKED_KEY).execute();
    else await trx.insertInto('meta').values({ key: CHECKED_KEY, value: checked }).execute();
    return ending.length;
  });
}
