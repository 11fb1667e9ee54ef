// Statements the gateway holds for a person's review, each on its own gateway connection kept open in the background
// (per owner, by review id) after the caller was told pending_review, until the outcome is asked for: the MCP tools'
// query and review_status (owner: the principal), the console's query runner (owner: the console session).
import type pg from 'pg';
import { SqlRefusal, type SqlResult } from './gateway-sql.js';
import type { StatementReview } from './statement-reviews.js';

/** An outcome nobody asked for is dropped after this long (the connection closed long before). */
const KEEP_SETTLED_MS = 60 * 60_000;
/** Held statements per owner: each is an open gateway connection. */
export const MAX_HELD_PER_PRINCIPAL = 8;

export type HeldOutcome<R = SqlResult> = { ok: R } | { refused: SqlRefusal };

export interface HeldStatement<R = SqlResult> {
  review_id: string;
  /** Whose it is: the principal (MCP), or the console session and its principal (query runner). */
  principal: string;
  resource: string;
  database: string | null;
  sql: string;
  held_at: string;
  /** What the gateway said when it held the statement. */
  notice: string;
  outcome: Promise<HeldOutcome<R>>;
  settled: HeldOutcome<R> | null;
}

export function makeHeldStatements<R = SqlResult>() {
  const byPrincipal = new Map<string, Map<string, HeldStatement<R>>>();
  const mine = (principal: string) => {
    let m = byPrincipal.get(principal);
    if (!m) byPrincipal.set(principal, (m = new Map()));
    return m;
  };
  function remove(principal: string, id: string): void {
    const m = byPrincipal.get(principal);
    m?.delete(id);
    if (m?.size === 0) byPrincipal.delete(principal);
  }
  return {
    count: (principal: string) => byPrincipal.get(principal)?.size ?? 0,

    /** Keeps `client` open until the statement's outcome arrives, then closes it. */
    add(h: Omit<HeldStatement<R>, 'outcome' | 'settled'>, client: pg.Client, result: Promise<R>): HeldStatement<R> {
      const entry: HeldStatement<R> = { ...h, settled: null, outcome: result.then((ok) => ({ ok }), (refused: SqlRefusal) => ({ refused })) };
      void entry.outcome.then((o) => {
        entry.settled = o;
        void client.end().catch(() => {});
        setTimeout(() => {
          if (byPrincipal.get(h.principal)?.get(h.review_id) === entry) remove(h.principal, h.review_id);
        }, KEEP_SETTLED_MS).unref();
      });
      mine(h.principal).set(h.review_id, entry);
      return entry;
    },

    get: (principal: string, id: string): HeldStatement<R> | undefined => byPrincipal.get(principal)?.get(id),

    /** The held, undecided statement with exactly this text on this resource and database, if any. */
    find(principal: string, resource: string, database: string | null, sql: string): HeldStatement<R> | undefined {
      for (const h of byPrincipal.get(principal)?.values() ?? []) if (!h.settled && h.resource === resource && h.database === database && h.sql === sql) return h;
      return undefined;
    },

    remove,
  };
}

export type HeldStatements<R = SqlResult> = ReturnType<typeof makeHeldStatements<R>>;

/**
 * What a review id sent along with a statement means when no held statement of the caller's answers for it (it ran in
 * an earlier session, or this process restarted): refused (with why), still pending, or approved for exactly this
 * statement under this grant — then sending the statement again runs it, once (the gateway consumes the approval).
 */
export function reviewVerdict(rev: StatementReview | undefined, reviewId: string, principal: string, sql: string, grantId: string): { refused: SqlRefusal } | { pending: StatementReview } | { run: StatementReview } {
  const no = (code: string, message: string) => ({ refused: new SqlRefusal(code, message) });
  if (!rev || rev.principal !== principal) return no('AIRLOCK_NOT_FOUND', `you have no statement review ${reviewId}`);
  if (rev.status === 'executed') return no('AIRLOCK_REVIEW_USED', `review ${rev.id} was approved for one run and that run happened at ${rev.executed_at ?? rev.decided_at}; an approval cannot be replayed — send the statement again (without review_id) for a new review`);
  if (rev.status === 'denied') return no('AIRLOCK_REVIEW_DENIED', `${rev.decided_by ?? 'a reviewer'} denied the statement: ${rev.comment ?? '(no comment)'}`);
  if (rev.status === 'timed_out') return no('AIRLOCK_REVIEW_TIMED_OUT', `nobody decided on review ${rev.id} before ${rev.expires_at}; send the statement again for a new review`);
  if (rev.status === 'withdrawn') return no('AIRLOCK_REVIEW_WITHDRAWN', `review ${rev.id} was withdrawn (its session ended before a decision); send the statement again`);
  if (rev.statement !== sql || rev.grant_id !== grantId) return no('AIRLOCK_REVIEW_MISMATCH', `review ${rev.id} approves another statement${rev.grant_id !== grantId ? ' under another grant' : ''}; send the exact approved text, or the new statement without review_id`);
  if (rev.status === 'pending') return { pending: rev };
  return { run: rev };
}

/** A held statement's refusal as its sender reads it: a denial carries the reviewer's comment. */
export function withReviewComment(refused: SqlRefusal, rev: StatementReview | undefined): SqlRefusal {
  if (refused.code !== 'AIRLOCK_REVIEW_DENIED' || !rev?.comment || refused.message.includes(rev.comment)) return refused;
  return new SqlRefusal(refused.code, `${refused.message} (reviewer's comment: ${rev.comment})`);
}
