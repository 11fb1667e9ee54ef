// Export CSV of the console's query runner: the statement runs again on the runner's gateway connection, inside a
// READ ONLY transaction and through the extended protocol (so PostgreSQL itself refuses a write, and a text of more
// than one statement), and its rows stream to the browser as RFC 4180 CSV, up to the role's max_rows (the gateway
// cuts there). The download ends only after its results.exported audit event is durable.
import type { FastifyReply } from 'fastify';
import type pg from 'pg';
import { AirlockError, ERRORS, type ErrorCode } from '../domain/errors.js';
import { csvField } from '../domain/report-format.js';
import type { Grant } from '../domain/model.js';
import { redactUnparsed } from '../inspect/redact.js';
import type { Access } from '../access/access.js';
import { NUMERIC_TYPES, SqlRefusal, socketOf, streamSql, type ResultField, type RowSink } from '../access/gateway-sql.js';
import { firstOf, type QueryRunner, type RunnerScope } from './query-runner.js';

/** No rows expected (BEGIN, ROLLBACK). */
const NO_ROWS: RowSink = { fields() {}, row() {} };

/**
 * One CSV field for a value as the server wrote it: NULL is an empty field and an empty string "" (as COPY … CSV
 * writes them); numbers as they are; any other text through csvField: quoted per RFC 4180 when it must be, and with a
 * leading ' when a spreadsheet would run it as a formula.
 */
export function csvCell(v: string | null, oid: number): string {
  if (v === null) return '';
  if (v === '') return '""';
  if (NUMERIC_TYPES.has(oid)) return v;
  return csvField(v);
}

const csvLine = (cells: string[]) => `${cells.join(',')}\r\n`;

/** A statement's refusal or error before any row: the gateway's own code when it has one, else the SQLSTATE in words. */
function exportProblem(r: SqlRefusal): AirlockError {
  if (r.code === 'SQLSTATE_25006') return new AirlockError('AIRLOCK_BAD_INPUT', `Export CSV runs the statement again in a READ ONLY transaction, and this statement writes (${r.message}); only statements that read can be exported.`, { sql_code: r.code });
  if (r.code in ERRORS) return new AirlockError(r.code as ErrorCode, r.message);
  return new AirlockError('AIRLOCK_BAD_INPUT', `${r.code}: ${r.message}`, { sql_code: r.code });
}

function fileName(resource: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${resource.replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp}.csv`;
}

export function makeQueryExport(deps: { access: Access; runner: QueryRunner }) {
  const { access } = deps;
  const { grantFor, claim, start, afterStatement, keyOf, maxRowsOf } = deps.runner.internals;

  /** Streams the rows of `sql` once it describes them; settles with what was sent and how the statement ended. */
  async function stream(c: pg.Client, sql: string, reply: FastifyReply, grant: Grant) {
    const raw = reply.raw;
    let fields: readonly ResultField[] | null = null;
    let rows = 0;
    let gone = false;
    let paused = false;
    let started = false;
    const socket = socketOf(c);
    raw.once('close', () => {
      if (raw.writableFinished) return;
      // The browser went away: the rest is not wanted, and cutting the connection stops the statement upstream.
      gone = true;
      socket.destroy();
    });
    /** The status goes out with the first row, or at the end of a result without rows: an error before either is a problem+json. */
    const begin = (f: readonly ResultField[]) => {
      if (started) return;
      started = true;
      reply.hijack();
      raw.writeHead(200, { 'content-type': 'text/csv; charset=utf-8; header=present', 'content-disposition': `attachment; filename="${fileName(grant.resource, access.clock.now())}"`, 'cache-control': 'no-store' });
      raw.write(csvLine(f.map((x) => csvField(x.name))));
    };
    const sink: RowSink = {
      fields(f) {
        if (f.length > 0 && !fields) fields = f;
      },
      row(values) {
        if (gone || !fields) return false;
        const f = fields;
        begin(f);
        rows++;
        if (!raw.write(csvLine(values.map((v, i) => csvCell(v, f[i]!.dataTypeID)))) && !paused) {
          // The browser reads slower than the database sends: stop reading the gateway until it catches up.
          paused = true;
          socket.pause();
          raw.once('drain', () => {
            paused = false;
            socket.resume();
          });
        }
      },
    };
    const run = streamSql(c, sql, [], sink, { extended: true });
    const first = await firstOf(run);
    // A result without rows is still a file: its header row.
    if ('ok' in first && fields && !first.ok.stopped) begin(fields);
    return { run, first, rows: () => rows, started: () => started, gone: () => gone };
  }

  return async function exportCsv(scope: RunnerScope, a: { grant_id: string; sql: string; database: string | null }, reply: FastifyReply): Promise<void> {
    const grant = await grantFor(scope, a.grant_id);
    const key = keyOf(scope.id, grant.id, a.database);
    const b = await claim(key);
    let client: pg.Client | null = null;
    const fail = (e: unknown): never => {
      void client?.end().catch(() => {});
      b.release();
      throw e instanceof SqlRefusal ? exportProblem(e) : e;
    };
    try {
      const begun = await start(scope, grant, a.database, key, b, (c) => streamSql(c, 'BEGIN READ ONLY', undefined, NO_ROWS));
      client = begun.c;
      if ('id' in begun.first) throw new AirlockError('AIRLOCK_STATEMENT_HELD', `The role holds even BEGIN READ ONLY for review (${begun.first.id}), and an export cannot wait for one; it was withdrawn.`);
      if ('refused' in begun.first) throw begun.first.refused;
    } catch (e) {
      return fail(e);
    }
    const c = client;
    const s = await stream(c, a.sql, reply, grant);
    if ('id' in s.first) return fail(new AirlockError('AIRLOCK_STATEMENT_HELD', `The role holds this statement for review (${s.first.id}), and an export cannot wait for one; it was withdrawn. Run it with Run to have it reviewed.`));
    if (!s.started()) {
      if ('refused' in s.first) return fail(s.first.refused);
      return fail(new AirlockError('AIRLOCK_BAD_INPUT', 'The statement returned no rows to export (it is not a query); Export CSV takes a statement that returns a result, such as SELECT.'));
    }
    const finished = 'ok' in s.first ? s.first.ok : null;
    const error = s.gone() ? { code: 'client_closed', message: 'the browser closed the download' } : 'refused' in s.first ? s.first.refused : null;
    if (finished?.stopped) socketOf(c).destroy();
    else if (!error) {
      // End the read-only transaction; the connection then serves the next statement as before.
      const done = streamSql(c, 'ROLLBACK', undefined, NO_ROWS);
      await done.result.catch(() => {});
      b.settled = true;
      afterStatement(key, grant, scope, c, done.idle, b);
    }
    if (error || finished?.stopped || s.gone()) {
      void c.end().catch(() => {});
      b.release();
    }
    const role = access.policy().role(grant.role);
    try {
      await access.audit.append({
        actor: scope.caller.principal.name, action: 'results.exported', target: grant.resource, source: scope.caller.source,
        details: {
          principal: scope.caller.principal.name, grant_id: grant.id, resource: grant.resource, role: grant.role, database: a.database,
          statement: redactUnparsed(a.sql, role?.guardrails?.keep_literals ?? false), rows: s.rows(), truncated: finished?.max_rows ?? false,
          max_rows: maxRowsOf(grant), outcome: error ? error.code : 'ok', ...(error ? { message: error.message } : {}),
          console_session_id: scope.token === null ? scope.id : null,
        },
      });
    } catch (e) {
      // Not recorded, so not delivered whole: the browser sees a failed download.
      reply.raw.destroy(e as Error);
      return;
    }
    // An error after the first row cuts the download, so a short file is never taken for the whole result.
    if (error) reply.raw.destroy(new Error(error.message));
    else reply.raw.end();
  };
}
