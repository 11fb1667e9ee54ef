// Statements the gateway holds for a person's review, each on its own gateway connection kept open in the background
// (per principal, by review id) after query answered pending_review, until review_status hands over the outcome.
import type pg from 'pg';
import type { SqlRefusal, SqlResult } from '../access/gateway-sql.js';

/** An outcome nobody asked for is dropped after this long (the connection closed long before). */
const KEEP_SETTLED_MS = 60 * 60_000;
/** Held statements per principal: each is an open gateway connection. */
export const MAX_HELD_PER_PRINCIPAL = 8;

export type HeldOutcome = { ok: SqlResult } | { refused: SqlRefusal };

export interface HeldStatement {
  review_id: string;
  principal: string;
  resource: string;
  database: string | null;
  sql: string;
  held_at: string;
  /** What the gateway said when it held the statement. */
  notice: string;
  outcome: Promise<HeldOutcome>;
  settled: HeldOutcome | null;
}

export function makeHeldStatements() {
  const byPrincipal = new Map<string, Map<string, HeldStatement>>();
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
    add(h: Omit<HeldStatement, 'outcome' | 'settled'>, client: pg.Client, result: Promise<SqlResult>): HeldStatement {
      const entry: HeldStatement = { ...h, settled: null, outcome: result.then((ok) => ({ ok }), (refused: SqlRefusal) => ({ refused })) };
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

    get: (principal: string, id: string): HeldStatement | undefined => byPrincipal.get(principal)?.get(id),

    /** The held, undecided statement with exactly this text on this resource and database, if any. */
    find(principal: string, resource: string, database: string | null, sql: string): HeldStatement | undefined {
      for (const h of byPrincipal.get(principal)?.values() ?? []) if (!h.settled && h.resource === resource && h.database === database && h.sql === sql) return h;
      return undefined;
    },

    remove,
  };
}

export type HeldStatements = ReturnType<typeof makeHeldStatements>;
