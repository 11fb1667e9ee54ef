// The SQL tools: describe_database, query and review_status, each through the server's own PostgreSQL gateway.
import { z } from 'zod';
import type pg from 'pg';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AirlockError } from '../domain/errors.js';
import { formatDuration } from '../domain/duration.js';
import { redactUnparsed } from '../inspect/redact.js';
import type { Grant } from '../domain/model.js';
import type { StatementReviewService } from '../access/statement-reviews.js';
import { answer, refusal, type CallAuth, type McpDeps, type Progress } from './context.js';
import { MAX_RESULT_BYTES, SqlRefusal, catalogRows, connectGateway, gatewayClient, runSql, type Running, type SqlResult } from '../access/gateway-sql.js';
import { poolKey, type GatewayPool } from '../access/gateway-pool.js';
import { MAX_HELD_PER_PRINCIPAL, reviewVerdict, withReviewComment, type HeldOutcome, type HeldStatement, type HeldStatements } from '../access/held-statements.js';
import { PROGRESS_INTERVAL_MS, type Extra } from './waiting.js';
import type { ToolHost } from './tool-host.js';

export const REVIEW_STATUS_DEFAULT_SECONDS = 300;
const MAX_DESCRIBED_TABLES = 1000;

// One row per table (its columns aggregated), so a role's max_rows limits the tables listed, not their columns.
const DESCRIBE_SQL = `select c.table_schema, c.table_name, t.table_type,
  json_agg(json_build_object('name', c.column_name, 'type', c.data_type, 'nullable', c.is_nullable = 'YES') order by c.ordinal_position) as columns
from information_schema.columns c join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
where c.table_schema not in ('pg_catalog', 'information_schema') and c.table_schema not like 'pg\\_toast%' and ($1::text is null or c.table_schema = $1)
group by c.table_schema, c.table_name, t.table_type order by c.table_schema, c.table_name limit ${MAX_DESCRIBED_TABLES + 1}`;

/**
 * SQL as the tool-call audit keeps it: literals masked and cut as the gateway's statement audit does for a role that
 * does not keep literals (the statement event the gateway writes for the same run follows the role's keep_literals).
 */
export function redactSql(sql: string): string {
  return redactUnparsed(sql, false);
}

/** The caller's active grant for a postgres resource, or the refusal to answer. */
async function postgresGrant(deps: McpDeps, call: CallAuth, resource: string): Promise<Grant> {
  const r = deps.access.policy().resource(resource);
  if (!r) throw new AirlockError('AIRLOCK_UNKNOWN_RESOURCE', `there is no resource ${resource}; list_resources shows those you may request`);
  if (r.kind !== 'postgres') throw new AirlockError('AIRLOCK_BAD_INPUT', `${resource} is a ${r.kind} resource; query and describe_database run SQL on postgres resources${r.kind === 'ssh' || r.kind === 'exec' ? ' (use exec)' : ''}`);
  const g = await deps.access.grants.activeFor(call.caller.principal.name, resource);
  if (!g) throw new AirlockError('AIRLOCK_NO_GRANT', `no active grant for ${resource} — request one with request_access`);
  if (!deps.pgGateway()) throw new AirlockError('AIRLOCK_UPSTREAM_UNAVAILABLE', 'this Airlock server runs no PostgreSQL gateway, which query goes through');
  return g;
}

/** The gateway login of a call: the caller, with the token the call came with as the password. */
const loginOf = (call: CallAuth) => ({ principal: call.caller.principal.name, token: call.token });

function sqlRefused(e: unknown): CallToolResult {
  if (e instanceof SqlRefusal) return refusal(e.code, e.message);
  throw e;
}

function pendingAnswer(h: HeldStatement): CallToolResult {
  return answer({ status: 'pending_review', review_id: h.review_id, resource: h.resource, message: `${h.notice}. A person must approve this exact statement before it runs; call review_status with review_id ${h.review_id} to wait for the decision and get the result.` });
}

/** Waits for a held statement's outcome, telling progress, up to timeoutMs or the client's cancel. */
function waitHeld(h: HeldStatement, timeoutMs: number, signal: AbortSignal, progress: Progress, still: () => Promise<string>): Promise<HeldOutcome | null> {
  return new Promise((resolve) => {
    const tell = () => void still().then(progress, () => {});
    const ticker = setInterval(tell, PROGRESS_INTERVAL_MS);
    const timer = setTimeout(() => end(null), timeoutMs);
    const onAbort = () => end(null);
    function end(v: HeldOutcome | null) {
      clearInterval(ticker);
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    }
    signal.addEventListener('abort', onAbort, { once: true });
    tell();
    void h.outcome.then(end);
  });
}

/** The statement's first news: its result, its refusal, or that the gateway holds it for review. */
function firstOf(run: Running<SqlResult>): Promise<{ ok: SqlResult } | { refused: unknown } | { id: string }> {
  return Promise.race([run.result.then((ok) => ({ ok }), (refused: unknown) => ({ refused })), run.held.then((id) => ({ id }))]);
}

export function registerSqlTools(host: ToolHost, held: HeldStatements, pool: GatewayPool) {
  const { deps } = host;
  const reviews = (): StatementReviewService => deps.access.statementReviews;
  const maxRowsOf = (g: Grant) => deps.access.policy().role(g.role)?.guardrails?.max_rows ?? null;

  /** What the audit keeps of an SQL call: the text redacted as statements are. */
  const describeSql = (a: { resource: string; sql: string; database?: string; review_id?: string }) => ({
    target: a.resource,
    arguments: { resource: a.resource, database: a.database ?? null, review_id: a.review_id ?? null, sql: redactSql(a.sql) },
  });

  async function outcomeAnswer(h: HeldStatement, o: HeldOutcome): Promise<CallToolResult> {
    held.remove(h.principal, h.review_id);
    if ('ok' in o) return answer({ status: 'executed', review_id: h.review_id, ...o.ok });
    const r = withReviewComment(o.refused, await reviews().get(h.review_id).catch(() => undefined));
    return refusal(r.code, r.message);
  }

  /** query with review_id: the held statement's outcome, or a decided review's state (an approval runs once). */
  async function byReview(a: { resource: string; sql: string; database?: string; review_id: string }, call: CallAuth, grant: Grant): Promise<CallToolResult> {
    const mineHeld = held.get(call.caller.principal.name, a.review_id);
    if (mineHeld) return mineHeld.settled ? outcomeAnswer(mineHeld, mineHeld.settled) : pendingAnswer(mineHeld);
    const v = reviewVerdict(await reviews().get(a.review_id), a.review_id, call.caller.principal.name, a.sql, grant.id);
    if ('refused' in v) return refusal(v.refused.code, v.refused.message);
    if ('pending' in v) return answer({ status: 'pending_review', review_id: v.pending.id, message: `review ${v.pending.id} still waits for a decision (until ${v.pending.expires_at}); call review_status to wait` });
    return runQuery(a, call, grant);
  }

  /**
   * One statement on the session's kept gateway connection for this resource and database when there is one idle
   * (under the same grant and token), else on a new one. A kept connection that turns out dead before the statement
   * was written is replaced once; after that nobody can tell whether it ran, so the failure is the answer.
   */
  async function startQuery(a: { resource: string; sql: string; database?: string }, call: CallAuth, grant: Grant, key: string, using: (c: pg.Client) => void) {
    const kept = pool.take(key, grant.id, call.token);
    if (kept) {
      using(kept);
      const run = runSql(kept, a.sql, undefined);
      const first = await firstOf(run);
      if (!('refused' in first) || run.sent()) return { c: kept, run, first };
      void kept.end().catch(() => {});
    }
    const c = gatewayClient(deps.pgGateway()!, loginOf(call), a.resource, a.database, 'airlock-mcp');
    using(c);
    await connectGateway(c);
    const run = runSql(c, a.sql, undefined);
    return { c, run, first: await firstOf(run) };
  }

  async function runQuery(a: { resource: string; sql: string; database?: string }, call: CallAuth, grant: Grant, signal?: AbortSignal): Promise<CallToolResult> {
    const principal = call.caller.principal.name;
    const key = poolKey(a.resource, a.database);
    // The client's cancel ends the connection in use, which stops the statement (the gateway cancels it upstream).
    let client = null as pg.Client | null;
    const onAbort = () => void client?.end().catch(() => {});
    signal?.addEventListener('abort', onAbort, { once: true });
    let started: Awaited<ReturnType<typeof startQuery>>;
    try {
      started = await startQuery(a, call, grant, key, (c) => (client = c));
    } catch (e) {
      void client?.end().catch(() => {});
      return sqlRefused(e);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    const { c, run, first } = started;
    if ('id' in first) {
      // The connection belongs to the held statement now; it is closed when the statement's outcome arrives.
      if (held.count(principal) >= MAX_HELD_PER_PRINCIPAL) {
        void c.end().catch(() => {});
        return refusal('AIRLOCK_STATEMENT_HELD', `you already have ${MAX_HELD_PER_PRINCIPAL} statements waiting for review; wait for them with review_status first (this one was withdrawn)`);
      }
      const h = held.add({ review_id: first.id, principal, resource: a.resource, database: a.database ?? null, sql: a.sql, held_at: deps.access.clock.now().toISOString(), notice: `the gateway holds the statement for review ${first.id}` }, c, run.result);
      return pendingAnswer(h);
    }
    // Kept for the next query only once the gateway is ready again outside a transaction; an open or failed
    // transaction is never handed to a later call: closing the connection rolls it back.
    void run.idle.then((ok) => (ok && !signal?.aborted ? pool.give(key, c, grant.id, call.token) : void c.end().catch(() => {})));
    if ('refused' in first) return sqlRefused(first.refused);
    const max = maxRowsOf(grant);
    const note = first.ok.truncated_by === 'max_rows' ? `only the first ${max} rows: the role's max_rows guardrail; add a LIMIT or narrow the WHERE clause` : first.ok.truncated_by === 'bytes' ? `the rows stop at ${MAX_RESULT_BYTES} bytes of JSON; select fewer columns or rows` : undefined;
    return answer({ status: 'ok', ...first.ok, max_rows: max, ...(note ? { note } : {}) });
  }

  const query = host.define('query', {
    title: 'Run SQL',
    description: `Runs SQL on a postgres resource you hold a grant on, through Airlock's PostgreSQL gateway with your role's guardrails (read-only roles refuse writes; refusals start with AIRLOCK_STATEMENT_REFUSED), masking and audit. Answers {columns:[{name,type}], rows, row_count, truncated}: rows are cut at the role's max_rows and at ${MAX_RESULT_BYTES / 1024} KiB of JSON. A statement the role sends to review answers {status:'pending_review', review_id}: wait with review_status. Errors start with their code (AIRLOCK_… or SQLSTATE_…). Your calls on one resource and database share a database session (SET and temporary tables persist); a transaction does not outlive its call.`,
    inputSchema: {
      resource: z.string().min(1).max(100).describe('a postgres resource you hold an active grant on'),
      sql: z.string().min(1).max(60_000).describe('the SQL text (up to 60,000 characters: the API takes request bodies up to 64 KiB); one statement is best'),
      database: z.string().min(1).max(63).optional().describe('another database of the resource (default: the resource\'s own)'),
      review_id: z.string().min(1).max(100).optional().describe('rev_… of an approved statement review, to run that exact statement (an approval runs once)'),
    },
  }, async (a, call, extra) => {
    const grant = await postgresGrant(deps, call, a.resource);
    if (a.review_id) return byReview({ ...a, review_id: a.review_id }, call, grant);
    const same = held.find(call.caller.principal.name, a.resource, a.database ?? null, a.sql);
    if (same) return pendingAnswer(same);
    return runQuery(a, call, grant, extra.signal);
  }, describeSql);

  const describe = host.define('describe_database', {
    title: 'Describe a database',
    description: `Lists the tables and views of a postgres resource you hold a grant on, with their columns (name, type, nullable), read from information_schema through the gateway (only what your grant may see; one row per table, so at most the role's max_rows tables and never more than ${MAX_DESCRIBED_TABLES}). Narrow it with schema.`,
    inputSchema: {
      resource: z.string().min(1).max(100).describe('a postgres resource you hold an active grant on'),
      schema: z.string().min(1).max(63).optional().describe('only this schema, e.g. public'),
      database: z.string().min(1).max(63).optional().describe('another database of the resource (default: the resource\'s own)'),
    },
    annotations: { readOnlyHint: true },
  }, async (a, call) => {
    await postgresGrant(deps, call, a.resource);
    const c = gatewayClient(deps.pgGateway()!, loginOf(call), a.resource, a.database, 'airlock-mcp');
    try {
      await connectGateway(c);
      const r = await catalogRows(c, DESCRIBE_SQL, [a.schema ?? null]);
      const schemas = new Map<string, { name: string; type: string; columns: unknown }[]>();
      for (const row of r.rows.slice(0, MAX_DESCRIBED_TABLES)) {
        const list = schemas.get(String(row.table_schema)) ?? [];
        schemas.set(String(row.table_schema), list);
        list.push({ name: String(row.table_name), type: row.table_type === 'VIEW' ? 'view' : 'table', columns: row.columns });
      }
      const truncated = r.truncated || r.rows.length > MAX_DESCRIBED_TABLES;
      return answer({ resource: a.resource, database: a.database ?? null, schemas: [...schemas].map(([name, tables]) => ({ name, tables })), truncated, ...(truncated ? { note: `not every table is listed (the role's max_rows, or more than ${MAX_DESCRIBED_TABLES}); narrow it with schema` } : {}) });
    } catch (e) {
      return sqlRefused(e);
    } finally {
      void c.end().catch(() => {});
    }
  });

  const reviewStatus = host.define('review_status', {
    title: 'Wait for a statement review',
    description: `Waits for a person's decision on a statement query held for review (up to timeout_seconds, default ${REVIEW_STATUS_DEFAULT_SECONDS}), with progress notifications. Approved: the statement runs once and its result comes back here. Denied: an AIRLOCK_REVIEW_DENIED error with the reviewer's comment. Nobody decided in time: AIRLOCK_REVIEW_TIMED_OUT. Still pending at timeout_seconds: status pending_review — call it again.`,
    inputSchema: {
      review_id: z.string().min(1).max(100).describe('rev_… from query\'s pending_review answer'),
      timeout_seconds: z.number().int().min(0).max(1800).optional().describe(`how long to wait (default ${REVIEW_STATUS_DEFAULT_SECONDS})`),
    },
    annotations: { readOnlyHint: true },
  }, async (a, call, extra: Extra, progress) => {
    const principal = call.caller.principal.name;
    const h = held.get(principal, a.review_id);
    const svc = reviews();
    if (!h) {
      const rev = await svc.get(a.review_id);
      if (!rev || rev.principal !== principal) return refusal('AIRLOCK_NOT_FOUND', `you have no statement review ${a.review_id} waiting here; query answers a review_id when the gateway holds a statement`);
      return answer({ status: rev.status, review_id: rev.id, decided_by: rev.decided_by, comment: rev.comment, expires_at: rev.expires_at, next: rev.status === 'approved' ? 'run the same statement with query and this review_id' : 'send the statement again with query for a new review' });
    }
    if (h.settled) return outcomeAnswer(h, h.settled);
    const timeout = (a.timeout_seconds ?? REVIEW_STATUS_DEFAULT_SECONDS) * 1000;
    const still = async () => {
      const rev = await svc.get(h.review_id).catch(() => undefined);
      const who = rev ? ` by ${[...rev.approver_groups.map((g) => `group ${g}`), ...(rev.sponsor ? [`(sponsor ${rev.sponsor})`] : [])].join(', ') || 'a reviewer'}; it expires at ${rev.expires_at}` : '';
      return `statement ${h.review_id} on ${h.resource} waits for review${who}`;
    };
    const o = await waitHeld(h, timeout, extra.signal, progress, still);
    if (o) return outcomeAnswer(h, o);
    return answer({ status: 'pending_review', review_id: h.review_id, waited: formatDuration(Math.round(timeout / 1000)), next: 'still undecided: call review_status again' });
  });

  return { query, describe, reviewStatus };
}
