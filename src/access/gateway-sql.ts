// SQL through this server's own PostgreSQL gateway, logged in as a principal with one of their access tokens — so
// guardrails, max_rows, masking, statement review and the statement audit are exactly those a psql session gets.
// The MCP tools (src/mcp/sql-tools.ts) and the console's query runner (src/api/query-runner.ts) both run on it.
import { connect as tcpConnect } from 'node:net';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { AirlockError } from '../domain/errors.js';

/** Where the server's own PostgreSQL gateway listens and the CA that signs its certificate. */
export interface PgGatewayAddress {
  host: string;
  port: number;
  ca: string;
}

/** Who logs in to the gateway: a principal's name and one of their valid access tokens (the password). */
export interface GatewayLogin {
  principal: string;
  token: string;
}

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

/** A refusal or database error as a person or agent reads it: the Airlock code from the gateway's hint, or SQLSTATE_xxxxx. */
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

/** The name of a built-in type ("int4", "text[]"); other types (enums, domains, extensions') as "oid:N". */
export function typeName(oid: number): string {
  return TYPE_NAMES.get(oid) ?? `oid:${oid}`;
}

/** int2, int4, int8, oid, float4, float8, numeric: text that is a number (or NaN/Infinity), never a formula. */
export const NUMERIC_TYPES: ReadonlySet<number> = new Set([20, 21, 23, 26, 700, 701, 1700]);
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

/** Every value arrives as the server's text: callers convert it (or not) themselves, the same for every type. */
const TEXT_TYPES = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

/**
 * A client for `resource` (and a database of it), logged in as the principal with their token, TLS checked against
 * the CA. `application` is the application_name the Sessions page and the statement audit show.
 */
export function gatewayClient(gw: PgGatewayAddress, login: GatewayLogin, resource: string, database: string | undefined | null, application: string): pg.Client {
  // A listener on every address is reached on loopback; the gateway's certificate names localhost.
  const host = ['0.0.0.0', '::', ''].includes(gw.host) ? '127.0.0.1' : gw.host;
  const c = new pg.Client({
    host, port: gw.port, user: login.principal, password: login.token, database: database ? `${resource}/${database}` : resource,
    ssl: { ca: gw.ca, servername: 'localhost' }, application_name: application, connectionTimeoutMillis: 15_000, types: TEXT_TYPES,
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

/**
 * Sends the gateway a CancelRequest for what `c` runs now, with the key the gateway gave it at login (BackendKeyData):
 * the gateway cancels the upstream statement, or withdraws a statement it holds for review. Resolves once sent.
 */
export function cancelOnGateway(gw: PgGatewayAddress, c: pg.Client): Promise<void> {
  const key = c as unknown as { processID?: number; secretKey?: number };
  if (typeof key.processID !== 'number' || typeof key.secretKey !== 'number') return Promise.resolve();
  const host = ['0.0.0.0', '::', ''].includes(gw.host) ? '127.0.0.1' : gw.host;
  return new Promise((resolve) => {
    // A CancelRequest goes unencrypted on a connection of its own, as PostgreSQL's does; it carries no secret but the key.
    const s = tcpConnect(gw.port, host, () => s.end(serialize.cancel(key.processID!, key.secretKey!)));
    s.setTimeout(5000, () => s.destroy());
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
}

/** A result set's column as pg reports it from the RowDescription. */
export interface ResultField {
  name: string;
  dataTypeID: number;
}

/** Where a statement's results go as they arrive: each result set's fields, then its rows as the server's text. */
export interface RowSink {
  /** A new result set begins (RowDescription), or, at the end, the last statement returned none (an empty list). */
  fields(fields: readonly ResultField[]): void;
  /** One row; answer false to stop reading (the caller then cuts or cancels the statement). */
  row(values: readonly (string | null)[]): boolean | void;
}

/** How a statement ended, when it did not fail. */
export interface Finished {
  /** The command tag of the last statement, e.g. "SELECT 3", "UPDATE 1". */
  command: string | null;
  /** The role's max_rows guardrail: the gateway sent the first max_rows rows and refused the rest. */
  max_rows: boolean;
  /** The sink asked to stop: the statement is still running on the gateway until the caller cuts or cancels it. */
  stopped: boolean;
}

export interface Running<T> {
  /** Settles with the outcome, or rejects with a SqlRefusal. */
  result: Promise<T>;
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

/** The client's socket, to pause (backpressure) or cut (a statement nobody wants the rest of). */
export function socketOf(c: pg.Client): { pause(): void; resume(): void; destroy(): void } {
  return (c as unknown as { connection: { stream: { pause(): void; resume(): void; destroy(): void } } }).connection.stream;
}

/**
 * Runs one query text on a connected client, handing its results to `sink` as they arrive. `extended`: through the
 * extended protocol (Parse/Bind/Execute), where PostgreSQL itself refuses a text of more than one statement.
 */
export function streamSql(c: pg.Client, sql: string, params: unknown[] | undefined, sink: RowSink, opts: { extended?: boolean } = {}): Running<Finished> {
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
  const result = new Promise<Finished>((resolve, reject) => {
    let done = false;
    let stopped = false;
    let current: readonly ResultField[] = [];
    const finish = (f: () => void) => {
      if (done) return;
      done = true;
      c.off('notice', notice);
      f();
    };
    const setFields = (fields: readonly ResultField[]) => {
      if (fields === current) return;
      current = fields;
      sink.fields(fields);
    };
    const q = new pg.Query({ text: sql, values: params, rowMode: 'array', ...(opts.extended ? { queryMode: 'extended' } : {}) } as pg.QueryConfig);
    const patched = q as unknown as { submit: (con: unknown) => unknown; handleRowDescription: (msg: { fields: ResultField[] }) => void };
    // pg calls submit when it writes the statement to the socket (at once, on an idle client).
    const submit = patched.submit.bind(q);
    patched.submit = (con) => {
      sent = true;
      return submit(con);
    };
    // A result set's columns are known at its RowDescription, before any row (and when it has none).
    const describe = patched.handleRowDescription.bind(q);
    patched.handleRowDescription = (msg) => {
      describe(msg);
      if (!done && !stopped) setFields(msg.fields);
    };
    q.on('row', (row: (string | null)[]) => {
      if (done || stopped) return;
      if (sink.row(row) === false) {
        stopped = true;
        finish(() => resolve({ command: null, max_rows: false, stopped: true }));
      }
    });
    q.on('end', (r: pg.QueryResult | pg.QueryResult[]) => {
      const last = Array.isArray(r) ? r[r.length - 1] : r;
      if (!done && last && last.fields.length === 0) setFields(last.fields);
      const command = last ? [last.command, last.rowCount ?? ''].filter((x) => x !== null && x !== '').join(' ') || null : null;
      finish(() => resolve({ command, max_rows: false, stopped: false }));
    });
    q.on('error', (e: Error) => {
      // Refused by pg itself before writing (the client had failed or was closing): no ReadyForQuery follows.
      if (!sent) settleIdle(false);
      const r = refusalOfPgError(e);
      if (r.code === 'AIRLOCK_MAX_ROWS') return finish(() => resolve({ command: null, max_rows: true, stopped: false }));
      finish(() => reject(r));
    });
    c.query(q);
  });
  // Nobody may wait on `held` (the statement ran): it must not keep anything alive or reject unhandled.
  result.catch(() => {});
  return { result, held, sent: () => sent, idle };
}

/** Runs one query text on a connected client, collecting rows as JSON up to the byte cap (past it, the connection is cut). */
export function runSql(c: pg.Client, sql: string, params: unknown[] | undefined, maxBytes = MAX_RESULT_BYTES): Running<SqlResult> {
  const out: SqlResult = { columns: [], rows: [], row_count: 0, truncated: false, truncated_by: null, command: null };
  let fields: readonly ResultField[] = [];
  let keys: string[] = [];
  let bytes = 0;
  const run = streamSql(c, sql, params, {
    fields(f) {
      fields = f;
      const seen = new Map<string, number>();
      keys = f.map((x) => {
        const n = (seen.get(x.name) ?? 0) + 1;
        seen.set(x.name, n);
        return n === 1 ? x.name : `${x.name}_${n}`;
      });
      out.columns = f.map((x, i) => ({ name: keys[i]!, type: typeName(x.dataTypeID) }));
      out.rows = [];
    },
    row(values) {
      const obj: Record<string, unknown> = {};
      for (let i = 0; i < keys.length; i++) obj[keys[i]!] = jsonValue(values[i] ?? null, fields[i]!.dataTypeID);
      bytes += JSON.stringify(obj).length + 1;
      if (bytes > maxBytes) return false;
      out.rows.push(obj);
    },
  });
  const result = run.result.then((f) => {
    out.row_count = out.rows.length;
    out.command = f.command;
    if (f.max_rows) {
      out.truncated = true;
      out.truncated_by = 'max_rows';
    } else if (f.stopped) {
      out.truncated = true;
      out.truncated_by = 'bytes';
      // The rest is not wanted: cutting the connection stops the statement (the gateway cancels it upstream).
      socketOf(c).destroy();
    }
    return out;
  });
  result.catch(() => {});
  return { ...run, result };
}

/** Runs a read-only catalog statement and returns its result (describe_database). */
export async function catalogRows(c: pg.Client, sql: string, params: unknown[]): Promise<SqlResult> {
  const r = runSql(c, sql, params);
  const first = await Promise.race([r.result, r.held.then((id) => ({ held: id }))]);
  if ('held' in first) throw new AirlockError('AIRLOCK_STATEMENT_HELD', `the role holds even catalog reads for review (${first.held}); ask a reviewer, or describe the tables with query`);
  return first;
}
