// The results the console's query runner keeps for paging: the last one of each (console session, grant, database),
// dropped by the next statement there, after a while unread, or when its session or grant ends.
import { randomBase32 } from '../domain/ids.js';
import type { SqlColumn } from '../access/gateway-sql.js';

/** A statement's rows as the runner keeps them: the server's text, the last result set of the text. */
export interface Collected {
  columns: SqlColumn[];
  rows: (string | null)[][];
  command: string | null;
  truncated_by: 'max_rows' | 'runner_limit' | null;
  elapsed_ms: number;
}

export interface ResultPage {
  result_id: string;
  columns: SqlColumn[];
  rows: (string | null)[][];
  offset: number;
  row_count: number;
  more: boolean;
  command: string | null;
  truncated: boolean;
  truncated_by: 'max_rows' | 'runner_limit' | null;
  max_rows: number | null;
  elapsed_ms: number;
}

export interface StoredResult extends Collected {
  id: string;
  /** The runner scope (console session or token) it belongs to: nobody else reads it. */
  scope: string;
  key: string;
  grant_id: string;
  max_rows: number | null;
  timer: NodeJS.Timeout;
}

export function makeResultStore(unreadMs: number) {
  const results = new Map<string, StoredResult>();
  const lastOfKey = new Map<string, string>();

  function drop(id: string): void {
    const r = results.get(id);
    if (!r) return;
    clearTimeout(r.timer);
    results.delete(id);
    if (lastOfKey.get(r.key) === id) lastOfKey.delete(r.key);
  }

  return {
    /** Keeps a result as the key's last (the one before it goes); its id is unguessable. */
    keep(scope: string, key: string, grantId: string, maxRows: number | null, col: Collected): StoredResult {
      const prev = lastOfKey.get(key);
      if (prev) drop(prev);
      const id = `qr_${randomBase32(20)}`;
      const r: StoredResult = { ...col, id, scope, key, grant_id: grantId, max_rows: maxRows, timer: setTimeout(() => drop(id), unreadMs) };
      r.timer.unref();
      results.set(id, r);
      lastOfKey.set(key, id);
      return r;
    },

    get: (id: string): StoredResult | undefined => results.get(id),

    /** Rows [offset, offset + limit) of a result; reading it keeps it another `unreadMs`. */
    page(r: StoredResult, offset: number, limit: number): ResultPage {
      r.timer.refresh();
      const rows = r.rows.slice(offset, offset + limit);
      return {
        result_id: r.id, columns: r.columns, rows, offset, row_count: r.rows.length, more: offset + rows.length < r.rows.length, command: r.command,
        truncated: r.truncated_by !== null, truncated_by: r.truncated_by, max_rows: r.max_rows, elapsed_ms: r.elapsed_ms,
      };
    },

    /** Drops a scope's or a grant's results; with neither, every result. */
    drop(match: { scope?: string; grant_id?: string }): void {
      const all = match.scope === undefined && match.grant_id === undefined;
      for (const r of [...results.values()]) if (all || r.scope === match.scope || r.grant_id === match.grant_id) drop(r.id);
    },

    size: () => results.size,
  };
}
