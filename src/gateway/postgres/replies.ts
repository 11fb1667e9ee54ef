// Pairs the server's replies with the client requests that caused them (a FIFO, as the protocol guarantees), to
// count rows, enforce max_rows, rewrite the error of a refused statement, and time each statement for the audit.
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage, DatabaseError } from 'pg-protocol/dist/messages.js';
import { WHOLE, type ScanSink } from './framing.js';
import { B, F, ProtocolError, errorResponse, typeName } from './protocol.js';
import type { ErrorCode } from '../../domain/errors.js';
import { CursorLimits, type RowLimit } from './cursor-limits.js';
import type { CursorOp } from '../../inspect/index.js';
import type { StatementOutcome } from '../core/session-lifecycle.js';
import { describeColumns, maskDataRow, scrubServerMessage, ShapeMismatch, type ResultShape, type SessionMasks } from './masking.js';

/** One statement as the audit sees it: a simple Query, or one Execute of a prepared statement. */
export interface Run {
  /** The decision found that every statement only reads (Decision.reads_only): it need not wait for its audit event. */
  readsOnly: boolean;
  text: string;
  fingerprint: string | null;
  rule: string | null;
  decision: 'allowed' | 'refused';
  started: number;
  /** Rows from CommandComplete tags. */
  rows: number;
  /** DataRows sent to the client. */
  forwarded: number;
  /**
   * The DataRow count max_rows applies to: per statement of a Query (reset at each CommandComplete), per portal
   * for Execute (shared by every Execute of one Bind, so fetching a portal in batches does not evade the limit),
   * and per SQL cursor for FETCH (shared by all its FETCHes; see cursor-limits.ts).
   */
  limit: RowLimit;
  /** The cursor operation of each statement, when any of them has one (else null): see cursor-limits.ts. */
  cursorOps: readonly (CursorOp | null)[] | null;
  /** With cursorOps: the statement the replies are at, and whether `limit` is already that statement's. */
  stmt: number;
  limitReady: boolean;
  truncated: boolean;
  error: string | null;
  /**
   * Set when the statement's statement.start event was made durable before it was forwarded (it may write): its
   * number among the session's statements so logged, which its `statement` event repeats.
   */
  logged?: number;
  /** The statement review (rev_…) it was held for, when its role holds statements (statement-hold.ts). */
  review_id?: string;
}

/** A statement as the core audits it; `logged`: its statement.start is in the log already (its statement_no). */
export type StatementRecord = StatementOutcome;

/** A request the server will answer: its message type, its audit run, and the refusal to put in place of its error. */
export interface Pending {
  type: number;
  run: Run | null;
  refusal: string | null;
  /** The ErrorResponse the client gets for the refusal, when not the guardrails' 42501 (a statement review's end). */
  refusalError?: Buffer;
  /** A Parse: told whether the server made the statement (ParseComplete) or not (its error, or skipped after one). */
  settled?: (ok: boolean) => void;
  /** In a session with masked columns: what the rows of a Query, an Execute's portal or a Describe('P') look like. */
  shape?: ResultShape;
  /** A Describe the gateway sent itself (masking): its reply is read and not forwarded. */
  ours?: boolean;
}

export interface RepliesDeps {
  maxRows: number | null;
  toClient(bytes: Buffer): void;
  /** Forwards what the scanner holds before the current message, so a message of ours goes out in order. */
  cut(): void;
  cancelUpstream(): Promise<void>;
  onStatement(record: StatementRecord): void;
  /** Stop (true) or resume (false) reading from the upstream. */
  hold(on: boolean): void;
  skipClientToSync(): void;
  /** The server is idle outside a transaction with nothing outstanding: its portals are gone. */
  onIdle(): void;
  /** Any ReadyForQuery outside a transaction: what the session ran so far is committed or rolled back. */
  transactionIdle?(): void;
  /** A ParameterStatus from the server: false when it must not reach the client (the session is ending). */
  parameterStatus(msg: Buffer): boolean;
  /**
   * The session's masked columns (masking.ts): RowDescriptions, DataRows of results with a masked column, errors and
   * notices are then read whole (the scanner must have RowDescription and NoticeResponse among its whole types).
   */
  masks?: SessionMasks | null;
}

/** Server messages that may arrive at any time and belong to no request. */
const ASYNC = new Set<number>([B.NoticeResponse, B.NotificationResponse]);
/** Messages that are part of a reply and need no bookkeeping beyond their position. */
const PASSIVE = new Set<number>([B.RowDescription, B.ParameterDescription, B.CopyInResponse, B.CopyOutResponse, B.CopyData, B.CopyDone]);

export class Replies implements ScanSink {
  private fifo: Pending[] = [];
  private head = 0;
  /** The server hit an error in an extended-protocol request and ignores everything up to the next Sync. */
  private serverSkipping = false;
  /** max_rows was exceeded: the rest of the request's replies are dropped up to ReadyForQuery. */
  private truncation: { cancelled: boolean; heldReady: Buffer | null } | null = null;
  private readonly parser = new Parser();
  private readonly cursors = new CursorLimits();

  constructor(private readonly d: RepliesDeps) {}

  get outstanding(): number {
    return this.fifo.length - this.head;
  }

  /** Statements sent (or held for their audit event) and not answered yet; read when someone lists sessions. */
  get running(): number {
    let n = 0;
    for (let i = this.head; i < this.fifo.length; i++) if (this.fifo[i]!.run) n++;
    return n;
  }

  expect(p: Pending): void {
    this.fifo.push(p);
  }

  record(run: Run): StatementRecord {
    return {
      text: run.text,
      fingerprint: run.fingerprint,
      decision: run.decision,
      rule: run.rule,
      rows: run.truncated ? run.forwarded : run.rows,
      duration_ms: run.decision === 'refused' ? 0 : Math.round((performance.now() - run.started) * 1000) / 1000,
      error: run.error,
      logged: run.logged,
      review_id: run.review_id,
    };
  }

  /**
   * The session ended with requests in flight: each statement among them is audited with why it did not finish, or
   * with `error` when it was sent on and may well have run (the client left without reading its result).
   */
  abandon(reason: string, error = `session ended: ${reason}`): void {
    for (let i = this.head; i < this.fifo.length; i++) {
      const { run, settled } = this.fifo[i]!;
      settled?.(false);
      if (!run) continue;
      run.error ??= error;
      this.d.onStatement(this.record(run));
    }
    this.fifo = [];
    this.head = 0;
  }

  out(bytes: Buffer): void {
    this.d.toClient(bytes);
  }

  streamed(type: number, _length: number): boolean | typeof WHOLE {
    if (ASYNC.has(type)) return true;
    const p = this.current();
    if (type === B.DataRow) return this.d.masks ? this.maskedDataRow(p) : this.dataRow(p);
    if (PASSIVE.has(type)) {
      if (type === B.RowDescription && p?.type === F.Describe) this.pop();
    } else if (type === B.NoData) {
      if (p?.type === F.Describe) {
        this.pop();
        if (p.shape) p.shape.cols = null;
        if (p.ours) return false;
      }
    } else if (type === B.ParseComplete || type === B.BindComplete || type === B.CloseComplete) {
      this.pop()?.settled?.(type === B.ParseComplete);
    } else if (type === B.EmptyQueryResponse || type === B.PortalSuspended) {
      if (p?.type === F.Execute) this.complete(this.pop()!);
      else if (p?.type === F.Query && p.shape) p.shape.cols = undefined;
    } else {
      throw new ProtocolError(`unexpected message ${typeName(type)} from the database server`);
    }
    return this.truncation === null;
  }

  whole(msg: Buffer): Buffer | null {
    const type = msg[0]!;
    if (type === B.CommandComplete) return this.commandComplete(msg);
    if (type === B.ErrorResponse) return this.error(msg);
    if (type === B.ParameterStatus) return this.d.parameterStatus(msg) ? msg : null;
    if (type === B.ReadyForQuery) return this.ready(msg);
    // Only a session with masked columns reads these whole.
    if (type === B.DataRow) return this.maskRow(msg);
    if (type === B.RowDescription) return this.rowDescription(msg);
    if (type === B.NoticeResponse) return scrubServerMessage(msg);
    throw new ProtocolError(`unexpected message ${typeName(type)} from the database server`);
  }

  /** The request the next reply belongs to; requests the server skipped after an error are dropped first. */
  private current(): Pending | undefined {
    if (this.serverSkipping) {
      while (this.head < this.fifo.length && this.fifo[this.head]!.type !== F.Sync) this.fifo[this.head++]!.settled?.(false);
    }
    return this.fifo[this.head];
  }

  private pop(): Pending | undefined {
    const p = this.fifo[this.head];
    if (!p) return undefined;
    this.head++;
    if (this.head === this.fifo.length) {
      this.fifo = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.fifo = this.fifo.slice(this.head);
      this.head = 0;
    }
    return p;
  }

  private complete(p: Pending): void {
    if (p.run) this.d.onStatement(this.record(p.run));
  }

  /**
   * A DataRow in a session with masked columns: streamed as usual when no column of its result is masked, read whole
   * (WHOLE) to be rewritten when one is. Rows the gateway cannot match to their columns are not sent (fail closed).
   */
  private maskedDataRow(p: Pending | undefined): boolean | typeof WHOLE {
    if (this.truncation) return false;
    const cols = p?.shape?.cols;
    if (!cols) {
      if (!p?.run) throw new ProtocolError('the database server sent rows the gateway cannot match to a request');
      this.refuseRows(p, p.run, 'airlock: the result could not be matched to its columns, so the gateway cannot tell which values are masked; nothing more of it was sent and the statement was cancelled', 'AIRLOCK_MASKING_REFUSED', '42501', 'masking');
      return false;
    }
    if (!this.dataRow(p)) return false;
    return cols.masks ? WHOLE : true;
  }

  private maskRow(msg: Buffer): Buffer {
    const cols = this.current()!.shape!.cols!;
    try {
      return maskDataRow(msg, cols, this.d.masks!.maskValue);
    } catch (err) {
      if (err instanceof ShapeMismatch) throw new ProtocolError('the database server sent a row whose columns do not match its description');
      throw err;
    }
  }

  /** Which columns of the coming rows are masked; a Describe the gateway sent itself is not forwarded. */
  private rowDescription(msg: Buffer): Buffer | null {
    const p = this.current();
    const cols = describeColumns(msg, this.d.masks!.catalog);
    if (p?.shape) p.shape.cols = cols;
    if (p?.type === F.Describe) {
      this.pop();
      if (p.ours) return null;
    }
    return this.truncation ? null : msg;
  }

  private dataRow(p: Pending | undefined): boolean {
    if (this.truncation) return false;
    const run = p?.run;
    if (!run) return true;
    if (run.cursorOps !== null && !run.limitReady) this.resolveLimit(run);
    run.limit.rows++;
    if (this.d.maxRows !== null && run.limit.rows > this.d.maxRows) {
      this.truncate(p!, run, this.d.maxRows);
      return false;
    }
    run.forwarded++;
    return true;
  }

  /**
   * The statement has more rows than max_rows allows: the client gets an error naming the guardrail in place of
   * the rest, the upstream statement is cancelled, and everything else the server says for this request is dropped
   * up to ReadyForQuery — which is held until the cancel request has been delivered, so it cannot hit a later query.
   */
  private truncate(p: Pending, run: Run, max: number): void {
    const cursor = run.limit.cursor;
    const message = cursor === undefined
      ? `airlock: the statement returned more than ${max} rows, the limit of this role's max_rows guardrail; the rest was not sent and the statement was cancelled — add a LIMIT or narrow the WHERE clause`
      : `airlock: the cursor "${cursor}" has returned more than ${max} rows in all, the limit of this role's max_rows guardrail; the rest was not sent and no further FETCH from it returns rows — narrow the cursor's query`;
    this.refuseRows(p, run, message, 'AIRLOCK_MAX_ROWS', '54000', 'max_rows');
  }

  /** The rest of a request's rows are not sent: the client reads `message` instead (see truncate). */
  private refuseRows(p: Pending, run: Run, message: string, airlock: ErrorCode, sqlstate: string, rule: string): void {
    this.d.cut();
    this.d.toClient(errorResponse({ severity: 'ERROR', code: sqlstate, message, airlock }));
    run.truncated = true;
    run.rule = rule;
    run.error = `${sqlstate}: ${message}`;
    const t = { cancelled: false, heldReady: null as Buffer | null };
    this.truncation = t;
    // In the extended protocol the client now expects the server to skip to Sync; if its Sync is not yet forwarded,
    // the gateway drops the client's messages up to it.
    if (p.type === F.Execute && !this.fifo.slice(this.head).some((q) => q.type === F.Sync)) this.d.skipClientToSync();
    void this.d.cancelUpstream().finally(() => {
      t.cancelled = true;
      if (t.heldReady) {
        this.truncation = null;
        this.d.toClient(t.heldReady);
        this.d.hold(false);
      }
    });
  }

  /** A statement with a cursor operation has run: its rows counted toward its cursor's limit (resolveLimit). */
  private resolveLimit(run: Run): void {
    run.limit = this.cursors.limitFor(run.cursorOps![run.stmt]);
    run.limitReady = true;
  }

  /** The statement completed: DECLARE/CLOSE take effect, and the next statement of a Query gets its own count. */
  private cursorStatementDone(run: Run): void {
    if (!run.limitReady) this.resolveLimit(run);
    this.cursors.completed(run.cursorOps![run.stmt]);
    run.stmt++;
    run.limitReady = false;
    run.limit = { rows: 0 };
  }

  private commandComplete(msg: Buffer): Buffer | null {
    const p = this.current();
    if (p?.type === F.Query && p.shape) p.shape.cols = undefined; // the next statement of the Query describes its own rows
    const run = p?.run;
    if (run) {
      run.rows += rowsOfTag(msg.toString('utf8', 5, msg.length - 1));
      if (run.cursorOps !== null) this.cursorStatementDone(run);
      if (p.type === F.Execute) this.complete(this.pop()!);
      else if (run.cursorOps === null) run.limit.rows = 0;
    }
    return this.truncation ? null : msg;
  }

  private error(msg: Buffer): Buffer | null {
    let e: DatabaseError | undefined;
    this.parser.parse(msg, (m: BackendMessage) => (e = m as DatabaseError));
    const p = this.current();
    const clear = this.d.masks ? scrubServerMessage(msg) : msg;
    if (!p) return clear; // e.g. FATAL on an administrator's termination: the client should read it
    let out: Buffer | null = clear;
    if (p.shape && p.type === F.Query) p.shape.cols = undefined;
    if (p.refusal) out = p.refusalError ?? errorResponse({ severity: 'ERROR', code: '42501', message: p.refusal, airlock: 'AIRLOCK_STATEMENT_REFUSED' });
    else if (p.run) p.run.error ??= this.d.masks ? errorText(clear) : `${e?.code ?? ''}: ${e?.message ?? ''}`;
    if (p.type !== F.Query && p.type !== F.Sync) {
      this.pop();
      p.settled?.(false);
      if (p.type === F.Execute) this.complete(p);
      this.serverSkipping = true;
    }
    return this.truncation ? null : out;
  }

  private ready(msg: Buffer): Buffer | null {
    const p = this.current();
    if (p?.type === F.Query || p?.type === F.Sync) {
      this.pop();
      if (p.type === F.Query && p.run) this.complete(p);
    }
    this.serverSkipping = false;
    if (msg[5] === 0x49) {
      this.cursors.transactionEnded();
      this.d.transactionIdle?.();
      if (this.outstanding === 0) this.d.onIdle();
    }
    const t = this.truncation;
    if (!t) return msg;
    if (t.cancelled) {
      this.truncation = null;
      return msg;
    }
    t.heldReady = Buffer.from(msg);
    this.d.hold(true);
    return null;
  }
}

/** `code: message` of an ErrorResponse, as the audit records it. */
function errorText(msg: Buffer): string {
  let code = '';
  let message = '';
  let at = 5;
  while (at < msg.length && msg[at] !== 0) {
    const nul = msg.indexOf(0, at + 1);
    if (nul < 0) break;
    if (msg[at] === 0x43) code = msg.toString('utf8', at + 1, nul);
    else if (msg[at] === 0x4d) message = msg.toString('utf8', at + 1, nul);
    at = nul + 1;
  }
  return `${code}: ${message}`;
}

const COUNTED = /^(?:SELECT|UPDATE|DELETE|MERGE|COPY|FETCH|MOVE|INSERT \d+) (\d+)$/;

/** Rows from a CommandComplete tag such as "SELECT 5", "INSERT 0 3", "COPY 10"; 0 for tags without a count. */
export function rowsOfTag(tag: string): number {
  const m = COUNTED.exec(tag);
  return m ? Number(m[1]) : 0;
}
