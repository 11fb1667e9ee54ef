// The sessions table, kept from the gateway's audit events inside the transaction that appends them: a session's
// row can never disagree with the log, and the Sessions page reads one row per session instead of replaying the log.
import { sql, type Transaction } from 'kysely';
import type { DB } from '../store/schema.js';
import type { AuditRow, Dialect } from '../store/store.js';
import { applySessionLifecycle } from '../store/session-lifecycle.js';

const SESSION_ACTIONS = new Set(['session.start', 'session.end', 'session.kill', 'statement', 'statement.start']);

// Details are canonical JSON (keys sorted, no whitespace), and a quote inside a string is always escaped, so
// `,"key":` outside an escape is the key itself, never text inside a statement. Statements are the hot path:
// finding two keys is cheaper than parsing a statement's text.
const SESSION_ID = /[{,]"session_id":"([^"\\]*)"/;
const STATEMENT_NO = /[{,]"statement_no":\d/;

interface Counted {
  n: number;
  last: string;
}

/**
 * Applies the session events among `rows` (as just appended, in seq order) to the sessions table. A statement is
 * counted at its first event: statement.start for one logged before it runs (its later `statement` event carries
 * statement_no and is not counted again), `statement` otherwise. session.end's own count, when it has one, is final.
 */
export async function applySessionEvents(trx: Transaction<DB>, dialect: Dialect, rows: readonly AuditRow[]): Promise<void> {
  let counts: Map<string, Counted> | null = null;
  for (const r of rows) {
    if (!SESSION_ACTIONS.has(r.action)) continue;
    if (r.action === 'statement' || r.action === 'statement.start') {
      if (r.action === 'statement' && STATEMENT_NO.test(r.details)) continue;
      const id = SESSION_ID.exec(r.details)?.[1];
      if (!id) continue;
      counts ??= new Map();
      const c = counts.get(id);
      if (c) {
        c.n++;
        c.last = r.time;
      } else counts.set(id, { n: 1, last: r.time });
      continue;
    }
    // Start, kill and end are rare: counts gathered so far go first, so an end's final count is not added to.
    if (counts) {
      await addCounts(trx, dialect, counts);
      counts = null;
    }
    await applySessionLifecycle(trx, r);
  }
  if (counts) await addCounts(trx, dialect, counts);
}

async function addCounts(trx: Transaction<DB>, dialect: Dialect, counts: Map<string, Counted>): Promise<void> {
  if (counts.size === 1) {
    const [id, c] = counts.entries().next().value!;
    await trx
      .updateTable('sessions')
      .set((eb) => ({ statements: eb('statements', '+', c.n), last_statement_at: c.last }))
      .where('id', '=', id)
      .where('ended_at', 'is', null)
      .execute();
    return;
  }
  // One statement for the batch, however many sessions it holds.
  const json = JSON.stringify([...counts].map(([id, c]) => ({ id, n: c.n, last: c.last })));
  if (dialect === 'postgres') {
    await sql`update sessions as s set statements = s.statements + v.n, last_statement_at = v.last
      from json_to_recordset(${json}::json) as v(id text, n int, last text)
      where s.id = v.id and s.ended_at is null`.execute(trx);
  } else {
    await sql`update sessions as s set statements = s.statements + v.n, last_statement_at = v.last
      from (select value ->> '$.id' as id, value ->> '$.n' as n, value ->> '$.last' as last from json_each(${json})) as v
      where s.id = v.id and s.ended_at is null`.execute(trx);
  }
}
