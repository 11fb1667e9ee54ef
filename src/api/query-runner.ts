// The console's query runner: a statement typed on a grant's card runs through this server's own PostgreSQL gateway,
// logged in as the principal, so guardrails, masking, max_rows, statement review and the statement audit are those a
// psql session gets. One gateway connection per (console session, grant, database), idle at most RUNNER_IDLE_MS; the
// last result of each kept here for paging; cancel by the gateway's CancelRequest; Export CSV in query-export.ts.
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { AirlockError, ERRORS, type ErrorCode } from '../domain/errors.js';
import type { Caller, Grant } from '../domain/model.js';
import type { Access } from '../access/access.js';
import { makeGatewayPool } from '../access/gateway-pool.js';
import { SqlRefusal, cancelOnGateway, connectGateway, gatewayClient, refusalOfPgError, socketOf, streamSql, typeName, type Finished, type PgGatewayAddress, type Running, type RowSink, type SqlColumn } from '../access/gateway-sql.js';
import { makeResultStore, type Collected, type ResultPage } from './query-results.js';
import { MAX_HELD_PER_PRINCIPAL, makeHeldStatements, reviewVerdict, withReviewComment, type HeldStatement } from '../access/held-statements.js';

/** A runner connection nobody used for this long is closed, and its gateway session ends. */
export const RUNNER_IDLE_MS = 3 * 60_000;
/** Rows a page has unless asked otherwise. */
export const PAGE_SIZE = 100;
/** What the runner keeps of one result for paging; past either, the statement is stopped (Export CSV has every row). */
export const RESULT_MAX_ROWS = 10_000;
export const RESULT_MAX_BYTES = 8 * 1024 * 1024;
/** After a cancel, how long the statement has to stop before its connection is cut (which stops it too). */
const CANCEL_GRACE_MS = 5000;
/** How long asking for a held statement's outcome waits for it once a reviewer approved it (then: still pending). */
const APPROVED_WAIT_MS = 20_000;
/** The application_name of runner connections: the Sessions page and the statement audit show it. */
export const RUNNER_APPLICATION = 'airlock-console';

/**
 * Who runs: a console session (cs_…), for which a short-lived access token is minted per gateway connection, or a
 * bearer-token caller of the API (tok_…), whose own token logs in. Connections and results belong to the scope.
 */
export interface RunnerScope {
  id: string;
  caller: Caller;
  /** The scope's own end: a minted token never outlives it. */
  expires_at: string;
  /** A bearer caller's token; null for a console session. */
  token: string | null;
}

export type RunAnswer =
  | ({ status: 'ok' } & ResultPage)
  | { status: 'pending_review'; review_id: string; message: string }
  | { status: 'error' | 'cancelled'; code: string; message: string; elapsed_ms: number };

/** The one statement (or export) a runner connection serves now. */
export interface Busy {
  client: pg.Client | null;
  /** Its outcome is known; the connection may still be finishing (its ReadyForQuery). */
  settled: boolean;
  cancelled: boolean;
  done: Promise<void>;
  release(): void;
}

export interface RunnerDeps {
  access: Access;
  /** The PostgreSQL gateway of this process; null when it is off. */
  gateway: () => PgGatewayAddress | null;
  log?: { warn(o: object, msg: string): void };
}

/** A statement started on a runner connection, and its first news. */
export interface Started<T> {
  c: pg.Client;
  run: Running<T>;
  first: { ok: T } | { refused: SqlRefusal } | { id: string };
}

const keyOf = (scope: string, grant: string, database: string | null) => `${scope}\u0000${grant}\u0000${database ?? ''}`;

/** A refusal at login (a lock, no grant, the gateway down) as an API error with the gateway's code when it has one. */
export function loginProblem(e: unknown): AirlockError {
  const r = e instanceof SqlRefusal ? e : refusalOfPgError(e);
  if (r.code in ERRORS) return new AirlockError(r.code as ErrorCode, `The gateway refused the query runner's login: ${r.message}`);
  return new AirlockError('AIRLOCK_UPSTREAM_UNAVAILABLE', `The gateway refused the query runner's login (${r.code}): ${r.message}`);
}

/** The statement's first news: its outcome, its refusal, or that the gateway holds it for review. */
export function firstOf<T>(run: Running<T>): Promise<Started<T>['first']> {
  return Promise.race([run.result.then((ok) => ({ ok }), (refused: SqlRefusal) => ({ refused })), run.held.then((id) => ({ id }))]);
}

/** The review was decided (an approval runs the statement; a denial or time-out ends it): its outcome is on the way. */
const isDecided = (rev: { status: string } | undefined) => rev !== undefined && rev.status !== 'pending';

/** `p`'s value, or null when it takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Collects a statement's last result set as text, up to RESULT_MAX_ROWS and RESULT_MAX_BYTES. */
function collector(): { sink: RowSink; columns: () => SqlColumn[]; rows: (string | null)[][] } {
  let columns: SqlColumn[] = [];
  const rows: (string | null)[][] = [];
  let bytes = 0;
  return {
    columns: () => columns,
    rows,
    sink: {
      fields(f) {
        columns = f.map((x) => ({ name: x.name, type: typeName(x.dataTypeID) }));
        rows.length = 0;
        bytes = 0;
      },
      row(values) {
        for (const v of values) bytes += (v?.length ?? 0) + 8;
        if (rows.length >= RESULT_MAX_ROWS || bytes > RESULT_MAX_BYTES) return false;
        rows.push(values as (string | null)[]);
      },
    },
  };
}

export function makeQueryRunner(deps: RunnerDeps) {
  const { access } = deps;
  const pool = makeGatewayPool({ idleMs: RUNNER_IDLE_MS });
  const busy = new Map<string, Busy>();
  const results = makeResultStore(RUNNER_IDLE_MS);
  const held = makeHeldStatements<Collected>();
  const heldClients = new Map<string, pg.Client>();
  /** Minted tokens not yet revoked, with their scope. */
  const minted = new Map<string, RunnerScope>();
  let closed = false;

  const maxRowsOf = (g: Grant) => access.policy().role(g.role)?.guardrails?.max_rows ?? null;

  function gateway(): PgGatewayAddress {
    const gw = deps.gateway();
    if (!gw) throw new AirlockError('AIRLOCK_UPSTREAM_UNAVAILABLE', 'This Airlock server runs no PostgreSQL gateway, which the query runner goes through.');
    return gw;
  }

  /** The caller's active grant `id` on a postgres resource, the one the gateway serves the resource under. */
  async function grantFor(scope: RunnerScope, id: string): Promise<Grant> {
    const principal = scope.caller.principal.name;
    const g = await access.grants.get(id);
    if (!g || g.principal !== principal) throw new AirlockError('AIRLOCK_NOT_FOUND', `You hold no grant ${id}.`);
    if (g.status !== 'active' || Date.parse(g.expires_at) <= access.clock.now().getTime()) throw new AirlockError('AIRLOCK_GRANT_NOT_ACTIVE', `Grant ${id} has ended (${g.status}); request access again.`);
    const r = access.policy().resource(g.resource);
    if (!r) throw new AirlockError('AIRLOCK_UNKNOWN_RESOURCE', `There is no resource ${g.resource} in the policy any more.`);
    if (r.kind === 'mysql') throw new AirlockError('AIRLOCK_BAD_INPUT', `The query runner serves PostgreSQL resources for now; ${g.resource} is a MySQL resource: connect with the mariadb line on the grant's card, or airlock connect ${g.resource}.`);
    if (r.kind !== 'postgres') throw new AirlockError('AIRLOCK_BAD_INPUT', `${g.resource} is a ${r.kind} resource; the query runner runs SQL on PostgreSQL resources.`);
    gateway();
    const served = await access.grants.activeFor(principal, g.resource);
    if (served && served.id !== g.id) throw new AirlockError('AIRLOCK_BAD_INPUT', `The gateway serves ${g.resource} under your grant ${served.id} (the one that ends last); run the statement from that grant's card.`);
    return g;
  }

  function revoke(tokenId: string): void {
    const scope = minted.get(tokenId);
    if (!scope) return;
    minted.delete(tokenId);
    access.tokens.revoke(scope.caller, tokenId).catch((e: unknown) => deps.log?.warn({ err: e, token_id: tokenId }, 'query runner: could not revoke a runner token'));
  }

  /**
   * A new gateway connection for the scope on the grant's resource. A console session logs in with an access token
   * minted for this connection alone: bound to the console session (sign-out revokes it, and with it the gateway
   * session), ending no later than it or the grant, never sent to the browser, and revoked when the connection closes.
   */
  async function open(scope: RunnerScope, grant: Grant, database: string | null): Promise<pg.Client> {
    const principal = scope.caller.principal.name;
    let token = scope.token;
    let tokenId: string | null = null;
    if (token === null) {
      const left = Math.floor((Math.min(Date.parse(scope.expires_at), Date.parse(grant.expires_at)) - access.clock.now().getTime()) / 1000);
      if (left < 1) throw new AirlockError('AIRLOCK_GRANT_NOT_ACTIVE', `Grant ${grant.id} or your console session ends now; request access again or sign in again.`);
      const made = await access.tokens.create({ ...scope.caller, console_session_id: scope.id }, principal, left, `console query runner: ${grant.resource} (${grant.id})`);
      token = made.token;
      tokenId = made.record.id;
      minted.set(tokenId, scope);
    }
    const c = gatewayClient(gateway(), { principal, token }, grant.resource, database, RUNNER_APPLICATION);
    if (tokenId) {
      const id = tokenId;
      c.once('end', () => revoke(id));
    }
    try {
      await connectGateway(c);
    } catch (e) {
      if (tokenId) revoke(tokenId);
      void c.end().catch(() => {});
      throw loginProblem(e);
    }
    return c;
  }

  /** Takes the key for one statement or export; a statement still running there is refused, one finishing waited for. */
  async function claim(key: string): Promise<Busy> {
    if (closed) throw new AirlockError('AIRLOCK_NOT_READY', 'The server is shutting down.');
    for (let cur = busy.get(key); cur; cur = busy.get(key)) {
      if (!cur.settled) throw new AirlockError('AIRLOCK_QUERY_RUNNING', 'A statement is already running on this grant (and database) in your console session; wait for it, or cancel it.');
      await cur.done;
    }
    let resolve = () => {};
    const b: Busy = { client: null, settled: false, cancelled: false, done: new Promise<void>((r) => (resolve = r)), release: () => {} };
    b.release = () => {
      b.settled = true;
      if (busy.get(key) === b) busy.delete(key);
      resolve();
    };
    busy.set(key, b);
    return b;
  }

  /**
   * The kept connection for the key when there is one (under the same grant and scope), else a new one, with `sql`
   * started on it. A kept connection that turns out dead before the statement was written is replaced once.
   */
  async function start<T>(scope: RunnerScope, grant: Grant, database: string | null, key: string, b: Busy, begin: (c: pg.Client) => Running<T>): Promise<Started<T>> {
    const kept = pool.take(key, grant.id, scope.id);
    if (kept) {
      b.client = kept;
      const run = begin(kept);
      const first = await firstOf(run);
      if (!('refused' in first) || run.sent()) return { c: kept, run, first };
      void kept.end().catch(() => {});
    }
    const c = await open(scope, grant, database);
    b.client = c;
    if (b.cancelled) {
      void c.end().catch(() => {});
      throw new SqlRefusal('SQLSTATE_57014', 'canceling statement due to user request (before it was sent)');
    }
    const run = begin(c);
    return { c, run, first: await firstOf(run) };
  }

  /** Gives the connection back once the gateway is idle outside a transaction; else (or after a cancel) closes it. */
  function afterStatement(key: string, grant: Grant, scope: RunnerScope, c: pg.Client, idle: Promise<boolean>, b: Busy): void {
    void idle.then((ok) => {
      // An open or failed transaction is never handed to the next statement: closing the connection rolls it back.
      if (ok && !b.cancelled && !closed) pool.give(key, c, grant.id, scope.id);
      else void c.end().catch(() => {});
      b.release();
    });
  }

  const errorAnswer = (r: SqlRefusal, cancelled: boolean, elapsed: number): RunAnswer => ({ status: cancelled ? 'cancelled' : 'error', code: r.code, message: r.message, elapsed_ms: elapsed });
  const pendingAnswer = (h: HeldStatement<Collected>): RunAnswer => ({ status: 'pending_review', review_id: h.review_id, message: `${h.notice}: a reviewer must approve this exact statement before it runs; once approved it runs here, once.` });

  async function byReview(scope: RunnerScope, grant: Grant, a: { sql: string; database: string | null; review_id: string; limit: number }): Promise<RunAnswer> {
    const h = held.get(scope.id, a.review_id);
    if (h) {
      // Approved: the gateway runs it now; its outcome is moments away (or as long as the statement takes).
      const settled = h.settled ?? (isDecided(await access.statementReviews.get(a.review_id).catch(() => undefined)) ? await within(h.outcome, APPROVED_WAIT_MS) : null);
      if (!settled) return pendingAnswer(h);
      held.remove(scope.id, a.review_id);
      if ('ok' in settled) return { status: 'ok', ...results.page(results.keep(scope.id, keyOf(scope.id, grant.id, a.database), grant.id, maxRowsOf(grant), settled.ok), 0, a.limit) };
      return errorAnswer(withReviewComment(settled.refused, await access.statementReviews.get(a.review_id).catch(() => undefined)), false, 0);
    }
    const v = reviewVerdict(await access.statementReviews.get(a.review_id), a.review_id, scope.caller.principal.name, a.sql, grant.id);
    if ('refused' in v) return errorAnswer(v.refused, false, 0);
    if ('pending' in v) return { status: 'pending_review', review_id: v.pending.id, message: `review ${v.pending.id} still waits for a decision (until ${v.pending.expires_at})` };
    return run(scope, { grant_id: grant.id, sql: a.sql, database: a.database, limit: a.limit });
  }

  async function run(scope: RunnerScope, a: { grant_id: string; sql: string; database: string | null; review_id?: string; limit: number }): Promise<RunAnswer> {
    const grant = await grantFor(scope, a.grant_id);
    if (a.review_id) return byReview(scope, grant, { ...a, review_id: a.review_id });
    const same = held.find(scope.id, grant.resource, a.database, a.sql);
    if (same) return pendingAnswer(same);
    const key = keyOf(scope.id, grant.id, a.database);
    const b = await claim(key);
    const t0 = performance.now();
    const elapsed = () => Math.round(performance.now() - t0);
    const col = collector();
    let started: Started<Finished>;
    try {
      started = await start(scope, grant, a.database, key, b, (c) => streamSql(c, a.sql, undefined, col.sink));
    } catch (e) {
      b.release();
      if (e instanceof SqlRefusal) return errorAnswer(e, b.cancelled, elapsed());
      throw e;
    }
    const { c, run: running, first } = started;
    const collected = running.result.then((f): Collected => {
      if (f.stopped) socketOf(c).destroy();
      return { columns: col.columns(), rows: col.rows, command: f.command, truncated_by: f.max_rows ? 'max_rows' : f.stopped ? 'runner_limit' : null, elapsed_ms: elapsed() };
    });
    collected.catch(() => {});
    if ('id' in first) {
      // The connection belongs to the held statement now (closed when its outcome arrives); the key gets a new one.
      b.release();
      if (held.count(scope.id) >= MAX_HELD_PER_PRINCIPAL) {
        void c.end().catch(() => {});
        return { status: 'error', code: 'AIRLOCK_STATEMENT_HELD', message: `you already have ${MAX_HELD_PER_PRINCIPAL} statements waiting for review in this console session; this one was withdrawn`, elapsed_ms: elapsed() };
      }
      heldClients.set(first.id, c);
      const h = held.add({ review_id: first.id, principal: scope.id, resource: grant.resource, database: a.database, sql: a.sql, held_at: access.clock.now().toISOString(), notice: `the gateway holds the statement for review ${first.id}` }, c, collected);
      void h.outcome.then(() => heldClients.delete(first.id));
      return pendingAnswer(h);
    }
    b.settled = true;
    afterStatement(key, grant, scope, c, running.idle, b);
    if ('refused' in first) return errorAnswer(first.refused, b.cancelled, elapsed());
    return { status: 'ok', ...results.page(results.keep(scope.id, key, grant.id, maxRowsOf(grant), await collected), 0, a.limit) };
  }

  /** Drops a scope's or a grant's idle connections and results (sign-out, grant end). */
  function drop(match: { scope?: string; grant_id?: string }): void {
    if (match.grant_id) pool.dropGrant(match.grant_id);
    results.drop(match);
  }

  function onChange(c: { kind: string; id: string; event: string }): void {
    // Sign-out revoked the console session's runner tokens: the gateway ends their sessions on the same change.
    if (c.kind === 'token' && c.event === 'revoked') {
      const scope = minted.get(c.id);
      if (scope) drop({ scope: scope.id });
    }
    if (c.kind === 'grant' && c.event !== 'activated') drop({ grant_id: c.id });
    if (c.kind === 'policy' || c.kind === 'lock') void pool.closeIdle();
  }

  return {
    run,

    /** Another page of a result the scope ran; NOT_FOUND once it is gone (a newer statement on its key, idle, sign-out). */
    page(scope: RunnerScope, id: string, offset: number, limit: number): ResultPage {
      const r = results.get(id);
      if (!r || r.scope !== scope.id) throw new AirlockError('AIRLOCK_NOT_FOUND', `There is no result ${id} (any more): a result is kept until the next statement on its grant, or ${RUNNER_IDLE_MS / 60_000} minutes unread. Run the statement again.`);
      return results.page(r, offset, limit);
    },

    /** Cancels the statement running on the key, or withdraws a held one, with the gateway's CancelRequest. */
    async cancel(scope: RunnerScope, a: { grant_id: string; database: string | null; review_id?: string }): Promise<{ cancelled: boolean; message: string }> {
      const gw = gateway();
      if (a.review_id) {
        const c = heldClients.get(a.review_id);
        if (!c || !held.get(scope.id, a.review_id) || held.get(scope.id, a.review_id)?.settled) return { cancelled: false, message: `No statement of yours waits for review ${a.review_id} here.` };
        await cancelOnGateway(gw, c);
        return { cancelled: true, message: `Asked the gateway to withdraw the statement held for review ${a.review_id}.` };
      }
      const b = busy.get(keyOf(scope.id, a.grant_id, a.database));
      if (!b || b.settled) return { cancelled: false, message: 'Nothing is running on this grant (and database) in your console session.' };
      b.cancelled = true;
      const c = b.client;
      if (!c) return { cancelled: true, message: 'The statement is cancelled before it was sent.' };
      await cancelOnGateway(gw, c);
      // A statement the database does not stop (or a gateway that did not get the request) stops when its connection is cut.
      const timer = setTimeout(() => !b.settled && socketOf(c).destroy(), CANCEL_GRACE_MS);
      timer.unref();
      void b.done.then(() => clearTimeout(timer));
      return { cancelled: true, message: 'Asked the gateway to cancel the running statement.' };
    },

    /** What Export CSV (query-export.ts) shares with runs: the grant check, the key, a connection on it. */
    internals: { grantFor, claim, start, afterStatement, keyOf, maxRowsOf, gateway },

    /** Called on the access change bus: a revoked runner token, an ended grant, a policy or lock change. */
    onChange,

    /**
     * The server stops: every connection closes, its gateway session ending before the gateway itself stops (which
     * would otherwise find them half-closed), and every result is dropped.
     */
    async close(): Promise<void> {
      closed = true;
      const ending = [...[...busy.values()].map((b) => b.client), ...heldClients.values()].filter((c): c is pg.Client => c !== null);
      results.drop({});
      await within(Promise.all([pool.close(), ...ending.map((c) => c.end().catch(() => {}))]), CANCEL_GRACE_MS);
    },

    stats: () => ({ idle: pool.size(), busy: busy.size, results: results.size(), held_tokens: minted.size }),
  };
}

export type QueryRunner = ReturnType<typeof makeQueryRunner>;
