// SQL for the MCP tools, run through this server's own PostgreSQL gateway with the caller's token as the password —
// so guardrails, max_rows, masking, statement review and the statement audit are exactly those a psql session gets.
import pg from 'pg';
import { AirlockError } from '../domain/errors.js';
import type { CallAuth, PgGatewayAddress } from './context.js';

/** Result JSON past this many bytes is not collected: the statement is stopped and the answer says truncated. */
export const MAX_RESULT_BYTES = 1024 * 1024;

export interface SqlColumn {
  name: string;
  type: string;
}

export interface SqlResult {
  columns: SqlColumn[];
  rows: Record<string, unknown>[];
  row_count: number;
  truncated: boolean;
  /** Why rows are missing: the role's max_rows guardrail (the gateway cut it) or the MCP answer's byte cap. */
  truncated_by: 'max_rows' | 'bytes' | null;
  /** The command tag of the last statement, e.g. "SELECT 3", "UPDATE 1". */
  command: string | null;
}

/** A refusal or database error as the agent reads it: the Airlock code from the gateway's hint, or SQLSTATE_xxxxx. */
export class SqlRefusal extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** The gateway puts "Airlock error code AIRLOCK_…" into the hint of every error it writes. */
export function refusalOfPgError(e: unknown): SqlRefusal {
  const err = e as Error & { code?: string; hint?: string };
  const airlock = /Airlock error code (AIRLOCK_[A-Z_]+)/.exec(err.hint ?? '')?.[1];
  const text = (err.message ?? String(e)).replace(/^airlock: /, '');
  if (airlock) return new SqlRefusal(airlock, text);
  if (err.code && /^[0-9A-Z]{5}$/.test(err.code)) return new SqlRefusal(`SQLSTATE_${err.code}`, text);
  return new SqlRefusal('AIRLOCK_UPSTREAM_UNAVAILABLE', `the gateway could not be reached or closed the connection: ${text}`);
}

const TYPE_NAMES = new Map<number, string>([
  ...Object.entries(pg.types.builtins).map(([n, oid]) => [oid as number, n.toLowerCase()] as [number, string]),
  [1000, 'bool[]'], [1005, 'int2[]'], [1007, 'int4[]'], [1016, 'int8[]'], [1009, 'text[]'], [1015, 'varchar[]'], [1021, 'float4[]'],
  [1022, 'float8[]'], [1231, 'numeric[]'], [199, 'json[]'], [3807, 'jsonb[]'], [2951, 'uuid[]'], [1182, 'date[]'], [1115, 'timestamp[]'], [1185, 'timestamptz[]'],
]);
const NUMBERS = new Set([21, 23, 26, 700, 701]);
const JSON_TYPES = new Set([114, 3802]);

/** Text from the server as JSON: small numbers and booleans as such, json parsed; int8 and numeric stay text (precision). */
function jsonValue(text: string | null, oid: number): unknown {
  if (text === null) return null;
  if (oid === 16) return text === 't';
  if (NUMBERS.has(oid)) {
    const n = Number(text);
    return Number.isFinite(n) ? n : text;
  }
  if (JSON_TYPES.has(oid)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/** Every value arrives as the server's text: the conversion above is the only one, the same for every type. */
const TEXT_TYPES = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

/** A client for `resource` (and a database of it), logged in as the caller with their token, TLS checked against the CA. */
export function gatewayClient(gw: PgGatewayAddress, auth: CallAuth, resource: string, database?: string): pg.Client {
  // A listener on every address is reached on loopback; the gateway's certificate names localhost.
  const host = ['0.0.0.0', '::', ''].includes(gw.host) ? '127.0.0.1' : gw.host;
  const c = new pg.Client({
    host, port: gw.port, user: auth.caller.principal.name, password: auth.token, database: database ? `${resource}/${database}` : resource,
    ssl: { ca: gw.ca, servername: 'localhost' }, application_name: 'airlock-mcp', connectionTimeoutMillis: 15_000, types: TEXT_TYPES,
  });
  c.on('error', () => {});
  return c;
}

export async function connectGateway(c: pg.Client): Promise<void> {
  try {
    await c.connect();
  } catch (e) {
    throw refusalOfPgError(e);
  }
}

export interface Running {
  /** Settles with the result, or rejects with a SqlRefusal. */
  result: Promise<SqlResult>;
  /** Resolves with the review id when the gateway says it holds the statement for a person's review. */
  held: Promise<string>;
  /** Whether pg handed the statement to the socket: a failure before that left nothing to run on the gateway. */
  sent(): boolean;
  /**
   * After the result: true once the gateway said ReadyForQuery outside any transaction (status 'I'), so the connection
   * may serve another query; false when it is in a transaction or failed one, or the connection ended first.
   */
  idle: Promise<boolean>;
}

/** Whether a connected client's socket is still open both ways (its end may not have been read yet). */
export function socketOpen(c: pg.Client): boolean {
  const stream = (c as unknown as { connection?: { stream?: { destroyed: boolean; writable: boolean; readableEnded: boolean } } }).connection?.stream;
  return !!stream && !stream.destroyed && stream.writable && !stream.readableEnded;
}

/** Runs one query text on a connected client, collecting rows up to the byte cap (past it, the connection is cut). */
export function runSql(c: pg.Client, sql: string, params: unknown[] | undefined, maxBytes = MAX_RESULT_BYTES): Running {
  let onHeld: (id: string) => void = () => {};
  const held = new Promise<string>((r) => (onHeld = r));
  const notice = (msg: { message?: string }) => {
    const id = /held for review (rev_[A-Za-z0-9_-]+)/.exec(msg.message ?? '')?.[1];
    if (id) onHeld(id);
  };
  c.on('notice', notice);
  let sent = false;
  let onIdle: (ok: boolean) => void = () => {};
  const idle = new Promise<boolean>((r) => (onIdle = r));
  // pg emits 'drain' at the ReadyForQuery after this statement (nothing else is queued on a client of one caller):
  // its transaction status is the one that ReadyForQuery reported.
  const drained = () => settleIdle(c.getTransactionStatus() === 'I');
  const gone = () => settleIdle(false);
  function settleIdle(ok: boolean) {
    c.off('drain', drained);
    c.off('end', gone);
    c.off('error', gone);
    onIdle(ok);
  }
  c.once('drain', drained);
  c.once('end', gone);
  c.once('error', gone);
  const result = new Promise<SqlResult>((resolve, reject) => {
    const out: SqlResult = { columns: [], rows: [], row_count: 0, truncated: false, truncated_by: null, command: null };
    let bytes = 0;
    let fields: { name: string; dataTypeID: number }[] = [];
    let keys: string[] = [];
    let done = false;
    const finish = (f: () => void) => {
      if (done) return;
      done = true;
      c.off('notice', notice);
      f();
    };
    const q = new pg.Query({ text: sql, values: params, rowMode: 'array' } as pg.QueryConfig);
    // pg calls submit when it writes the statement to the socket (at once, on an idle client).
    const submit = q.submit.bind(q) as (con: unknown) => unknown;
    (q as unknown as { submit: (con: unknown) => unknown }).submit = (con) => {
      sent = true;
      return submit(con);
    };
    const setFields = (r: { fields?: { name: string; dataTypeID: number }[] }) => {
      if (!r.fields || r.fields === fields) return;
      fields = r.fields;
      const seen = new Map<string, number>();
      keys = fields.map((f) => {
        const n = (seen.get(f.name) ?? 0) + 1;
        seen.set(f.name, n);
        return n === 1 ? f.name : `${f.name}_${n}`;
      });
      out.columns = fields.map((f, i) => ({ name: keys[i]!, type: TYPE_NAMES.get(f.dataTypeID) ?? `oid:${f.dataTypeID}` }));
      out.rows = [];
    };
    q.on('row', (row: (string | null)[], r?: { fields?: { name: string; dataTypeID: number }[] }) => {
      if (done) return;
      if (r) setFields(r);
      const obj: Record<string, unknown> = {};
      for (let i = 0; i < keys.length; i++) obj[keys[i]!] = jsonValue(row[i] ?? null, fields[i]!.dataTypeID);
      bytes += JSON.stringify(obj).length + 1;
      if (bytes > maxBytes) {
        out.truncated = true;
        out.truncated_by = 'bytes';
        out.row_count = out.rows.length;
        // The rest is not wanted: cutting the connection stops the statement (the gateway cancels it upstream).
        (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
        return finish(() => resolve(out));
      }
      out.rows.push(obj);
    });
    q.on('end', (r: pg.QueryResult | pg.QueryResult[]) => {
      const last = Array.isArray(r) ? r[r.length - 1] : r;
      if (last) {
        setFields(last);
        out.command = [last.command, last.rowCount ?? ''].filter((x) => x !== null && x !== '').join(' ') || null;
      }
      out.row_count = out.rows.length;
      finish(() => resolve(out));
    });
    q.on('error', (e: Error) => {
      // Refused by pg itself before writing (the client had failed or was closing): no ReadyForQuery follows.
      if (!sent) settleIdle(false);
      const r = refusalOfPgError(e);
      if (r.code === 'AIRLOCK_MAX_ROWS') {
        out.truncated = true;
        out.truncated_by = 'max_rows';
        out.row_count = out.rows.length;
        return finish(() => resolve(out));
      }
      finish(() => reject(r));
    });
    c.query(q);
  });
  // Nobody may wait on `held` (the statement ran): it must not keep anything alive or reject unhandled.
  result.catch(() => {});
  return { result, held, sent: () => sent, idle };
}

/** Runs a read-only catalog statement and returns its result (describe_database). */
export async function catalogRows(c: pg.Client, sql: string, params: unknown[]): Promise<SqlResult> {
  const r = runSql(c, sql, params);
  const first = await Promise.race([r.result, r.held.then((id) => ({ held: id }))]);
  if ('held' in first) throw new AirlockError('AIRLOCK_STATEMENT_HELD', `the role holds even catalog reads for review (${first.held}); ask a reviewer, or describe the tables with query`);
  return first;
}
