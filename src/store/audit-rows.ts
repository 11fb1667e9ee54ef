// The audit log's bulk insert, per dialect: the hot path writes a batch of up to hundreds of rows per transaction,
// and building that INSERT with the query builder cost more than everything else an append does.
import type Database from 'better-sqlite3';
import { sql, type Transaction } from 'kysely';
import type { DB } from './schema.js';

/** One audit_events row as stored (details is JSON text). */
export type AuditRow = DB['audit_events'];

export type InsertAuditRows = (trx: Transaction<DB>, rows: readonly AuditRow[]) => Promise<void>;

const COLUMNS = 'seq, time, actor, action, target, source, details, prev_hash, hash';
const ROW_PARAMS = '(?, ?, ?, ?, ?, ?, ?, ?, ?)';
/** Rows per run of SQLite's multi-row statement: one step of the VM for many rows, 450 parameters (the limit is 32766). */
const SQLITE_ROWS_PER_RUN = 50;

/**
 * SQLite: cached prepared statements, one for SQLITE_ROWS_PER_RUN rows and one for the rest, row by row. Kysely's
 * SqliteDialect runs on this same Database and holds its only connection for the whole transaction, so these rows
 * belong to `trx`.
 */
export function sqliteAuditRows(database: Database.Database): InsertAuditRows {
  let one: Database.Statement | undefined;
  let many: Database.Statement | undefined;
  const params: unknown[] = new Array(SQLITE_ROWS_PER_RUN * 9);
  return async function insertAuditRows(trx, rows) {
    if (!trx.isTransaction) throw new Error('audit rows are written inside a transaction');
    let i = 0;
    if (rows.length >= SQLITE_ROWS_PER_RUN) {
      many ??= database.prepare(`insert into audit_events (${COLUMNS}) values ${Array(SQLITE_ROWS_PER_RUN).fill(ROW_PARAMS).join(', ')}`);
      for (; i + SQLITE_ROWS_PER_RUN <= rows.length; i += SQLITE_ROWS_PER_RUN) {
        for (let j = 0, p = 0; j < SQLITE_ROWS_PER_RUN; j++) {
          const r = rows[i + j]!;
          params[p++] = r.seq;
          params[p++] = r.time;
          params[p++] = r.actor;
          params[p++] = r.action;
          params[p++] = r.target;
          params[p++] = r.source;
          params[p++] = r.details;
          params[p++] = r.prev_hash;
          params[p++] = r.hash;
        }
        many.run(params);
      }
    }
    one ??= database.prepare(`insert into audit_events (${COLUMNS}) values ${ROW_PARAMS}`);
    for (; i < rows.length; i++) {
      const r = rows[i]!;
      one.run(r.seq, r.time, r.actor, r.action, r.target, r.source, r.details, r.prev_hash, r.hash);
    }
  };
}

/** Rows per INSERT on PostgreSQL: a batch is one statement; a larger call is split so no message grows unbounded. */
const PG_ROWS_PER_STATEMENT = 2000;

/**
 * PostgreSQL: one INSERT … SELECT per batch, whatever its size, with the rows sent as one JSON parameter. JSON.stringify
 * escapes the rows natively; sending one array per column (unnest) made node-postgres escape every element in
 * JavaScript, at three times the cost on the event loop.
 */
export function postgresAuditRows(): InsertAuditRows {
  return async function insertAuditRows(trx, rows) {
    for (let start = 0; start < rows.length; start += PG_ROWS_PER_STATEMENT) {
      const json = JSON.stringify(start === 0 && rows.length <= PG_ROWS_PER_STATEMENT ? rows : rows.slice(start, start + PG_ROWS_PER_STATEMENT));
      await sql`insert into audit_events (seq, time, actor, action, target, source, details, prev_hash, hash)
        select seq, time, actor, action, target, source, details, prev_hash, hash
        from json_to_recordset(${json}::json) as r(seq int8, time text, actor text, action text, target text, source text, details text, prev_hash text, hash text)`.execute(trx);
    }
  };
}
