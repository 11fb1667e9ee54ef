// /api/v1/query/…: the console's query runner (src/api/query-runner.ts) — run a statement on one of your active grants
// through this server's PostgreSQL gateway, page through its result, cancel it, and Export CSV (query-export.ts).
import { z } from 'zod';
import type { FastifyRequest } from 'fastify';
import { AirlockError } from '../domain/errors.js';
import type { Caller } from '../domain/model.js';
import type { Access } from '../access/access.js';
import type { PgGatewayAddress } from '../access/gateway-sql.js';
import type { RouteDef } from './routing.js';
import type { ConsoleAuth } from './console-auth.js';
import { PAGE_SIZE, RESULT_MAX_ROWS, makeQueryRunner, type QueryRunner, type RunnerScope } from './query-runner.js';
import { makeQueryExport } from './query-export.js';

/** The API takes bodies up to 64 KiB; the statement gets most of it. */
const MAX_SQL_CHARS = 60_000;

const where = {
  grant_id: z.string().min(1).max(100).describe('grt_… of your active grant on a postgres resource'),
  database: z.string().min(1).max(63).nullable().optional().describe("another database of the resource (default: the resource's own)"),
};
const sql = z.string().min(1).max(MAX_SQL_CHARS).describe('the SQL text, as you would type it in psql');
const limit = z.coerce.number().int().min(1).max(1000).default(PAGE_SIZE).describe(`rows per page (default ${PAGE_SIZE})`);

const column = z.object({ name: z.string(), type: z.string().describe('the type name (int4, text, numeric, timestamptz, …; oid:N for types not built in)') });
const page = {
  result_id: z.string().describe('qr_…: ask for further pages with it'),
  columns: z.array(column),
  rows: z.array(z.array(z.string().nullable())).describe("this page's rows: each value as the server's text, null for NULL"),
  offset: z.number().int(),
  row_count: z.number().int().describe('rows the runner holds for this result'),
  more: z.boolean().describe('rows after this page'),
  command: z.string().nullable().describe('the command tag of the last statement, e.g. "SELECT 3"'),
  truncated: z.boolean(),
  truncated_by: z.enum(['max_rows', 'runner_limit']).nullable().describe(`max_rows: the role's guardrail cut the result (the gateway sent that many rows); runner_limit: the runner keeps ${RESULT_MAX_ROWS} rows (Export CSV has them all)`),
  max_rows: z.number().int().nullable().describe("the role's max_rows"),
  elapsed_ms: z.number().int(),
};
const runAnswer = z.discriminatedUnion('status', [
  z.object({ status: z.literal('ok'), ...page }),
  z.object({ status: z.literal('pending_review'), review_id: z.string().describe('rev_…: the statement review; run again with it for the outcome'), message: z.string() }),
  z.object({ status: z.enum(['error', 'cancelled']), code: z.string().describe('AIRLOCK_… from the gateway, or SQLSTATE_xxxxx from the database'), message: z.string(), elapsed_ms: z.number().int() }),
]).describe("the statement's outcome: its first page of rows, held for review, or its error");

export function queryRoutes(deps: { access: Access; consoleAuth: ConsoleAuth; gateway: () => PgGatewayAddress | null; log?: { warn(o: object, msg: string): void } }): { routes: RouteDef<any, any, any>[]; runner: QueryRunner } { // eslint-disable-line @typescript-eslint/no-explicit-any
  const { access, consoleAuth } = deps;
  const runner = makeQueryRunner({ access, gateway: deps.gateway, log: deps.log });
  const exportCsv = makeQueryExport({ access, runner });
  access.bus.subscribe(runner.onChange);

  /** The console session the request came with (the usual way), or the bearer token of an API caller. */
  async function scopeOf(caller: Caller, req: FastifyRequest): Promise<RunnerScope> {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer && caller.token_id) {
      const t = await access.tokens.byId(caller.token_id);
      if (!t?.valid) throw new AirlockError('AIRLOCK_TOKEN_INVALID', 'The access token is not valid (expired or revoked).');
      return { id: caller.token_id, caller, expires_at: t.expires_at, token: bearer };
    }
    const cs = await consoleAuth.consoleSession(req);
    if (!cs) throw new AirlockError('AIRLOCK_UNAUTHENTICATED', 'Sign in to the console, or send your access token as "Authorization: Bearer alk_…".');
    return { id: cs.id, caller, expires_at: cs.expires_at, token: null };
  }

  const routes: RouteDef<any, any, any>[] = [ // eslint-disable-line @typescript-eslint/no-explicit-any
    {
      method: 'POST', url: '/api/v1/query/run', tag: 'query',
      summary: "Run SQL on one of your active grants through Airlock's PostgreSQL gateway (your role's guardrails, masking, max_rows, statement review and audit); answers the first page of rows, held for review, or the error",
      body: z.strictObject({ ...where, sql, review_id: z.string().min(1).max(100).optional().describe('rev_… that held this exact statement: its outcome once decided'), limit }),
      response: runAnswer,
      async handler({ caller, body, req }) {
        return runner.run(await scopeOf(caller, req), { grant_id: body.grant_id, sql: body.sql, database: body.database ?? null, review_id: body.review_id, limit: body.limit });
      },
    },
    {
      method: 'GET', url: '/api/v1/query/results/:id', tag: 'query', summary: "A page of a result the query runner holds (until your next statement on that grant, or a few minutes unread)",
      params: z.strictObject({ id: z.string().min(1).max(100) }),
      query: z.strictObject({ offset: z.coerce.number().int().min(0).max(RESULT_MAX_ROWS).default(0), limit }),
      response: z.object(page),
      async handler({ caller, params, query, req }) {
        return runner.page(await scopeOf(caller, req), params.id, query.offset, query.limit);
      },
    },
    {
      method: 'POST', url: '/api/v1/query/cancel', tag: 'query', summary: "Cancel the statement (or export) running on a grant in the query runner, or withdraw one held for review: the gateway's CancelRequest",
      body: z.strictObject({ ...where, review_id: z.string().min(1).max(100).optional().describe('rev_… of a statement held for review: withdraw it') }),
      response: z.object({ cancelled: z.boolean().describe('false: nothing was running'), message: z.string() }),
      async handler({ caller, body, req }) {
        return runner.cancel(await scopeOf(caller, req), { grant_id: body.grant_id, database: body.database ?? null, review_id: body.review_id });
      },
    },
    {
      method: 'POST', url: '/api/v1/query/export', tag: 'query',
      summary: "Export CSV: runs a statement that only reads again, in a READ ONLY transaction through the gateway, and streams every row (up to the role's max_rows) as RFC 4180 CSV; audited as results.exported",
      body: z.strictObject({ ...where, sql }),
      response: { 200: { content: 'text/csv', description: 'the rows as CSV (a header row of column names, CRLF line ends), as an attachment' } },
      async handler({ caller, body, req, reply }) {
        await exportCsv(await scopeOf(caller, req), { grant_id: body.grant_id, sql: body.sql, database: body.database ?? null }, reply);
        return reply;
      },
    },
  ];
  return { routes, runner };
}
