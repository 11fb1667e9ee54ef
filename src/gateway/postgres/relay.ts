// Relays one authenticated session: client messages are inspected and forwarded in order; the server's replies
// stream back as slices, paired with the requests that caused them (FIFO) for refusals, row limits and audit.
import type { Socket } from 'node:net';
import type { Inspector, Decision } from '../../inspect/index.js';
import { BackendScanner, type MessageReader } from './framing.js';
import { F, B, BodyWriter, ProtocolError, TERMINATE, errorResponse, parseMessage, queryMessage, readCString, typeName, typedMessage } from './protocol.js';
import { Replies, type Pending, type Run, type StatementRecord } from './replies.js';
import { reportedSettingRisk } from './startup.js';
import { cursorOpsOf, type RowLimit } from './cursor-limits.js';
import type { ErrorCode } from '../../domain/errors.js';
import type { Log } from '../../domain/log.js';
import type { RelayedBytes } from '../types.js';
import { bindNames, type HeldText, type PgStatementHold } from './statement-hold.js';
import { PreparedNames } from './prepared-names.js';
import type { SessionCatalog } from './session-catalog.js';
import type { ResultShape, SessionMasks } from './masking.js';

export type { StatementRecord } from './replies.js';

/**
 * What the upstream runs in place of a refused statement: it fails in the server's parser, so the server's own
 * error handling (aborted transaction, skip to Sync) applies exactly as if the refused statement had failed there,
 * and the gateway rewrites that error into the refusal. In the server's log it reads as what it is.
 */
export const REFUSED_SQL = '/* airlock: statement refused by a guardrail */ airlock_refused_statement';

/** Client messages the gateway relays; any other type ends the session (fail closed). */
const RELAYED = new Set<number>([F.Query, F.Parse, F.Bind, F.Describe, F.Execute, F.Sync, F.Flush, F.Close, F.CopyData, F.CopyDone, F.CopyFail, F.Terminate]);

/**
 * Client writes of at least POOLED_WRITE_MIN bytes (a streaming result) reuse buffers of WRITE_BUFFER_SIZE, the size
 * of the shared read buffer, from a free list; a buffer returns to it when its write is done. Backpressure keeps
 * a session to a few buffers in flight, so a result of any size streams through a few fixed buffers instead of a
 * new allocation per read for the garbage collector to find later. (Smaller writes come from Node's own pool.)
 */
const POOLED_WRITE_MIN = 4 * 1024;
const WRITE_BUFFER_SIZE = 64 * 1024;
const MAX_FREE_WRITE_BUFFERS = 32;
const freeWriteBuffers: Buffer[] = [];

/** Unprocessed client bytes above which the gateway stops reading from the client until it catches up. */
const CLIENT_QUEUE_LIMIT = 1 << 20;

export interface RelayOptions {
  client: Socket;
  upstream: Socket;
  /** Routes the upstream's bytes to a handler (views of a shared buffer, valid during the call; see upstream.ts). */
  readUpstream(handler: (chunk: Buffer) => void): void;
  /** The reader that framed the client's stream so far, and the messages it has already produced. */
  clientReader: MessageReader;
  clientQueued: Buffer[];
  upstreamLeftover: Buffer;
  inspector: Inspector;
  maxRows: number | null;
  maxMessageBytes: number;
  cancelUpstream(): Promise<void>;
  onStatement(record: StatementRecord): void;
  /**
   * For a session whose statements may write (docs/postgres-gateway.md, "Audit events"): called with each allowed
   * Query and Execute before it is forwarded, which waits (and everything after it) until the promise resolves, i.e.
   * its event is durable; a rejection ends the session. null: statements are forwarded at once, audited on completion.
   */
  logBeforeForward: ((run: Run) => Promise<void>) | null;
  /** The session is read-only: a server report that read-only transactions were turned off ends it. */
  readOnly?: boolean;
  /** Called once, with why the session ended. */
  onEnd(reason: string): void;
  log: Pick<Log, 'warn' | 'error'>;
  /** Counts what is written to each side (shared by the gateway's sessions, read by /metrics). */
  bytes?: RelayedBytes;
  /** The role's statement review rule, when it holds statements for a person's decision (statement-hold.ts). */
  hold?: PgStatementHold | null;
  /** The database catalog kept current (session-catalog.ts); statements are judged with its inspector, not `inspector`. */
  catalog?: SessionCatalog | null;
  /**
   * The session's masked columns, when its role masks a column of this database (masking.ts): statements pass the
   * masking check, and results are masked by their RowDescriptions. null: nothing is decoded.
   */
  masks?: SessionMasks | null;
}

export class Relay {
  private readonly client: Socket;
  private readonly upstream: Socket;
  private readonly inq: Buffer[] = [];
  private inHead = 0;
  private inBytes = 0;
  private pumping = false;
  private toUpstream: Buffer[] = [];
  private upstreamFull = false;
  private clientFull = false;
  private holdUpstream = false;
  private readingClient = false;
  private readingUpstream = false;
  /** Ending, but a message is partly sent to the client: keep relaying (with backpressure) until it is whole. */
  private finishingMessage = false;
  /** After a refused Parse, client messages up to Sync are dropped, as the server does after an error. */
  private clientSkipping = false;
  private readonly names = new PreparedNames();
  private readonly portals = new Map<string, { decision: Decision | null; limit: { rows: number }; review: HeldText | null; sql: string | null; generation: number }>();
  /**
   * Masking: what each portal's rows look like, from a Describe of it sent since the last statement went upstream (any
   * statement may close a portal and open another of the same name: a SQL CLOSE and DECLARE, a function's cursor).
   * An Execute of a portal not described so is preceded by a Describe('P') of the gateway's own.
   */
  private shapes = new Map<string, ResultShape>();
  /** The statement held for review, while a person decides (the pump is suspended meanwhile). */
  private reviewing: Run | null = null;
  /** Messages of ours for the client (a review's notice) that wait for the end of a server message in flight. */
  private notices: Buffer[] = [];
  private readonly replies: Replies;
  private readonly scanner: BackendScanner;
  private ending = false;
  /** While a chunk from the upstream is being scanned: what goes to the client, sent as one write at the end. */
  private clientOut: Buffer[] | null = null;
  private clientOutBytes = 0;
  /**
   * Messages behind a statement whose event is not yet durable, in order: each goes upstream once every event
   * issued before it (up to `need`) has committed. The statement's Run gets its start time when it is released.
   */
  private held: { need: number; msg: Buffer; run: Run | null }[] = [];
  private heldBytes = 0;
  /** Events issued through logBeforeForward, and how many of them (from the first, without gaps) are durable. */
  private logsIssued = 0;
  private logsDone = 0;
  private readonly logsSettled = new Set<number>();
  /** The client sent Terminate while messages were held: they go first, then the Terminate. */
  private terminateAfterHeld = false;
  private readonly bytes: RelayedBytes;

  constructor(private readonly o: RelayOptions) {
    this.client = o.client;
    this.upstream = o.upstream;
    this.bytes = o.bytes ?? { toUpstream: 0, toClient: 0 };
    this.replies = new Replies({
      maxRows: o.maxRows,
      toClient: (b) => this.toClient(b),
      cut: () => this.scanner.cut(),
      cancelUpstream: () => o.cancelUpstream(),
      onStatement: o.onStatement,
      hold: (on) => {
        this.holdUpstream = on;
        this.updateFlow();
      },
      skipClientToSync: () => (this.clientSkipping = true),
      onIdle: () => {
        this.portals.clear();
        this.shapes.clear();
      },
      transactionIdle: () => this.o.catalog?.idle(),
      parameterStatus: (msg) => this.checkReportedSetting(msg),
      masks: o.masks ?? null,
    });
    // With masked columns, RowDescriptions and notices are read too (DataRows of a masked result on demand: replies.ts).
    const whole: number[] = [B.CommandComplete, B.ErrorResponse, B.ReadyForQuery, B.ParameterStatus];
    if (o.masks) whole.push(B.RowDescription, B.NoticeResponse);
    this.scanner = new BackendScanner(new Set(whole), o.maxMessageBytes, this.replies);
  }

  start(): void {
    this.client.on('data', (chunk: Buffer) => this.onClientData(chunk));
    this.o.readUpstream((chunk) => this.onUpstreamData(chunk));
    this.client.on('drain', () => {
      this.clientFull = false;
      this.updateFlow();
    });
    this.upstream.on('drain', () => {
      this.upstreamFull = false;
      this.updateFlow();
    });
    this.client.on('close', () => this.end('client closed'));
    this.upstream.on('close', () => this.end('upstream closed'));
    // Either side may have gone while the session was being set up.
    if (this.client.destroyed) return this.end('client closed');
    if (this.upstream.destroyed) return this.end('upstream closed');
    this.client.on('error', () => {});
    this.upstream.on('error', () => {});
    if (this.o.upstreamLeftover.length) this.onUpstreamData(this.o.upstreamLeftover);
    try {
      for (const m of this.o.clientQueued) this.enqueue(m);
    } catch (err) {
      return this.protocolError(err);
    }
    // The login left both sockets paused.
    this.client.pause();
    this.upstream.pause();
    this.updateFlow();
    this.pump();
  }

  /** Ends the session with a FATAL the client can read; the upstream query is cancelled and its backend released. */
  kill(reason: string, sqlstate = '57P01', airlock: ErrorCode = sqlstate === '58000' ? 'AIRLOCK_AUDIT_UNAVAILABLE' : 'AIRLOCK_SESSION_ENDED'): void {
    this.shutdown(reason, errorResponse({ severity: 'FATAL', code: sqlstate, message: `airlock: ${reason}`, airlock }));
  }

  /**
   * Fail closed on a server that now reads statement text differently from the gateway (a function or setting
   * changed client_encoding or standard_conforming_strings despite the guardrails): the session ends at once, and
   * the client never sees the change. False when the message must not be forwarded.
   */
  private checkReportedSetting(msg: Buffer): boolean {
    const risk = reportedSettingRisk(msg, this.o.readOnly === true);
    if (risk === null) return true;
    this.o.log.warn({ risk }, 'postgres gateway: the database server changed how it reads statements; ending the session');
    this.shutdown(risk, errorResponse({ severity: 'FATAL', code: '55000', message: `airlock: ${risk}; the session was ended`, airlock: 'AIRLOCK_TEXT_SETTING_CHANGED' }));
    return false;
  }

  /** Statements on their way to the database or running there (the Sessions page counts them). */
  get statementsRunning(): number {
    return this.replies.running + (this.reviewing ? 1 : 0);
  }

  /** The client's CancelRequest: a statement held for review is withdrawn; else the upstream's query is cancelled. */
  cancel(): void {
    if (this.o.hold?.cancel()) return;
    void this.o.cancelUpstream();
  }

  /** True while the upstream is working on something the client sent. */
  get busy(): boolean {
    return this.replies.outstanding > 0;
  }

  private onClientData(chunk: Buffer): void {
    if (this.ending) return;
    try {
      this.o.clientReader.push(chunk, this.enqueueMessage);
    } catch (err) {
      return this.protocolError(err);
    }
    this.pump();
  }

  /** enqueue as a callback made once, not one closure per read from the client. */
  private readonly enqueueMessage = (msg: Buffer): void => this.enqueue(msg);

  private enqueue(msg: Buffer): void {
    const type = msg[0]!;
    if (!RELAYED.has(type)) {
      throw new ProtocolError(type === F.FunctionCall ? 'the fast-path function call protocol is not allowed through the gateway' : `unexpected message type ${typeName(type)}`);
    }
    // The client left while a statement waits for review: withdraw it now, as when it disconnects, so nothing runs
    // for a client that is gone (the Terminate would otherwise wait behind the held statement and let it run).
    if (type === F.Terminate && this.reviewing) return this.terminate();
    this.inq.push(msg);
    this.inBytes += msg.length;
    this.updateFlow();
  }

  /**
   * Scans a chunk from the upstream (a view of the shared read buffer) and sends what the client gets as one write:
   * the slices are copied out of the shared buffer into a buffer of their own, which is also the one write.
   */
  private onUpstreamData(chunk: Buffer): void {
    this.clientOut = [];
    this.clientOutBytes = 0;
    try {
      this.scanner.feed(chunk);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.o.log.error({ err: message }, 'postgres gateway: the upstream stream could not be read');
      this.shutdown(`upstream protocol error: ${message}`, errorResponse({ severity: 'FATAL', code: '08P01', message: 'airlock: the database server sent something the gateway cannot relay; the session was ended', airlock: 'AIRLOCK_UPSTREAM_PROTOCOL' }));
    } finally {
      this.flushClient();
      this.clientOut = null;
      if (this.notices.length > 0 && !this.scanner.midMessage) this.sendNotices();
    }
  }

  /** A notice of ours goes between two server messages, never into one being forwarded. */
  private notice(msg: Buffer): void {
    this.notices.push(msg);
    if (!this.scanner.midMessage) this.sendNotices();
  }

  private sendNotices(): void {
    const out = this.notices;
    this.notices = [];
    if (!this.ending) for (const m of out) this.writeClient(m);
  }

  private toClient(bytes: Buffer): void {
    if (this.clientOut) {
      this.clientOut.push(bytes);
      this.clientOutBytes += bytes.length;
    } else this.writeClient(bytes);
  }

  /**
   * Sends what was gathered while scanning, copied into one buffer (the parts may be views of the shared read
   * buffer). A large batch goes into a buffer from the write pool, which takes it back once written.
   */
  private flushClient(): void {
    const parts = this.clientOut;
    if (!parts || parts.length === 0) return;
    this.clientOut = [];
    const total = this.clientOutBytes;
    this.clientOutBytes = 0;
    if (total < POOLED_WRITE_MIN || total > WRITE_BUFFER_SIZE) return this.writeClient(Buffer.concat(parts, total));
    const buf = freeWriteBuffers.pop() ?? Buffer.allocUnsafeSlow(WRITE_BUFFER_SIZE);
    let at = 0;
    for (const p of parts) at += p.copy(buf, at);
    this.writeClient(buf.subarray(0, total), (err) => {
      if (!err && freeWriteBuffers.length < MAX_FREE_WRITE_BUFFERS) freeWriteBuffers.push(buf);
    });
  }

  private writeClient(bytes: Buffer, done?: (err?: Error | null) => void): void {
    if (!this.client.writable) return;
    this.bytes.toClient += bytes.length;
    if (!this.client.write(bytes, done) && !this.clientFull) {
      this.clientFull = true;
      this.updateFlow();
    }
  }

  private sendUpstream(msg: Buffer, run: Run | null = null): void {
    if (this.logsIssued > this.logsDone) {
      this.held.push({ need: this.logsIssued, msg, run });
      this.heldBytes += msg.length;
    } else this.toUpstream.push(msg);
  }

  /** The statement's event goes to the log first; the statement and what follows it wait for the commit. */
  private logFirst(run: Run): void {
    const k = ++this.logsIssued;
    run.logged = k;
    this.o.logBeforeForward!(run).then(
      () => this.logCommitted(k),
      (err: unknown) => {
        if (this.ending) return;
        this.o.log.error({ err: String(err) }, 'postgres gateway: could not audit a statement before forwarding it; ending the session');
        this.kill('the audit log is unavailable, so the session was ended', '58000');
      },
    );
  }

  private logCommitted(k: number): void {
    this.logsSettled.add(k);
    while (this.logsSettled.delete(this.logsDone + 1)) this.logsDone++;
    if (this.ending && !this.terminateAfterHeld) return;
    let n = 0;
    const now = performance.now();
    for (const h of this.held) {
      if (h.need > this.logsDone) break;
      if (h.run) h.run.started = now;
      this.toUpstream.push(h.msg);
      this.heldBytes -= h.msg.length;
      n++;
    }
    if (n === 0) return;
    this.held.splice(0, n);
    this.flushUpstream();
    if (this.terminateAfterHeld && this.held.length === 0) {
      this.terminateAfterHeld = false;
      if (this.upstream.writable) this.upstream.end(TERMINATE);
    }
  }

  private flushUpstream(): void {
    if (this.toUpstream.length === 0 || !this.upstream.writable) return;
    const buf = this.toUpstream.length === 1 ? this.toUpstream[0]! : Buffer.concat(this.toUpstream);
    this.toUpstream = [];
    this.bytes.toUpstream += buf.length;
    if (!this.upstream.write(buf)) this.upstreamFull = true;
    this.updateFlow();
  }

  /** Backpressure both ways: a full socket stops reading from the other side until it drains. */
  private updateFlow(): void {
    // While ending, the client is not read any more; the upstream only until the message in flight is complete.
    if (this.ending && !this.finishingMessage) return;
    const readClient = !this.ending && !this.upstreamFull && this.inBytes + this.heldBytes <= CLIENT_QUEUE_LIMIT;
    if (readClient !== this.readingClient) {
      this.readingClient = readClient;
      if (readClient) this.client.resume();
      else this.client.pause();
    }
    const readUpstream = !this.clientFull && !this.holdUpstream;
    if (readUpstream !== this.readingUpstream) {
      this.readingUpstream = readUpstream;
      if (readUpstream) this.upstream.resume();
      else this.upstream.pause();
    }
  }

  private forward(msg: Buffer, type: number, run: Run | null = null, refusal: string | null = null, refusalError?: Buffer): void {
    const shape = this.o.masks ? this.shapeFor(msg, type) : undefined;
    // A statement verified to only read may run before its event commits (the documented window); anything else waits.
    if (run !== null && this.o.logBeforeForward !== null && !run.readsOnly) this.logFirst(run);
    this.sendUpstream(msg, run);
    const p: Pending = refusalError ? { type, run, refusal, refusalError } : { type, run, refusal };
    if (shape) p.shape = shape;
    this.replies.expect(p);
  }

  /**
   * Masking: the shape a request's rows are matched with. A Query describes its own rows; an Execute uses its portal's
   * Describe when one was sent since the last statement, else the gateway describes the portal first, itself.
   */
  private shapeFor(msg: Buffer, type: number): ResultShape | undefined {
    if (type === F.Query) {
      this.shapes.clear();
      return { cols: undefined };
    }
    // After a Sync, a Describe skipped in the batch before would not be told apart from one answered.
    if (type === F.Sync) return void this.shapes.clear();
    if (type === F.Describe) {
      if (msg.length < 7 || msg[5] !== 0x50) return undefined;
      const [portal] = readCString(msg, 6, msg.length);
      const shape: ResultShape = { cols: undefined };
      this.shapes.set(portal, shape);
      return shape;
    }
    if (type !== F.Execute) return undefined;
    const [portal] = readCString(msg, 5, msg.length);
    let shape = this.shapes.get(portal);
    if (!shape) {
      shape = { cols: undefined };
      this.sendUpstream(describePortal(portal));
      this.replies.expect({ type: F.Describe, run: null, refusal: null, shape, ours: true });
    }
    // What runs now may close this portal or any other and open one of the same name.
    this.shapes.clear();
    return shape;
  }

  /**
   * Handles queued client messages in order. Statements are decided inline when the inspector can (almost always:
   * a cached or small text); a text that must be parsed in a worker suspends the pump until its decision is back,
   * so nothing after it overtakes it.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    let suspended = false;
    try {
      while (this.inHead < this.inq.length && !this.ending) {
        // The catalog is being reloaded after a change: nothing is decided with the old one meanwhile.
        const loading = this.o.catalog?.loading;
        if (loading) {
          suspended = true;
          this.flushUpstream();
          void loading.then(() => this.resume());
          return;
        }
        const msg = this.inq[this.inHead]!;
        this.inq[this.inHead++] = EMPTY;
        this.inBytes -= msg.length;
        const type = msg[0]!;
        if (this.clientSkipping && type !== F.Sync && type !== F.Terminate) continue;
        if (type === F.Query || type === F.Parse) {
          const stmt = type === F.Query ? queryText(msg) : parseText(msg);
          const d = this.decideNow(stmt.sql);
          if (d === null) {
            suspended = true;
            void this.decideLater(msg, stmt);
            return;
          }
          if (this.statement(msg, stmt, d)) return void (suspended = true);
        } else if (type === F.Bind) {
          if (this.onBind(msg)) return void (suspended = true);
        } else if (type === F.Execute) {
          if (this.onExecute(msg)) return void (suspended = true);
        }
        else if (type === F.Close) this.onClose(msg);
        else if (type === F.Describe) this.forward(msg, type);
        else if (type === F.Sync) {
          this.clientSkipping = false;
          this.forward(msg, type);
          this.names.synced();
        } else if (type === F.Terminate) return this.terminate();
        else this.sendUpstream(msg); // Flush, CopyData, CopyDone, CopyFail: no reply of their own
      }
      if (this.inHead === this.inq.length) {
        this.inq.length = 0;
        this.inHead = 0;
      }
    } catch (err) {
      return this.protocolError(err);
    } finally {
      if (!suspended) {
        this.pumping = false;
        if (!this.ending) this.flushUpstream();
      }
    }
  }

  private get inspector(): Inspector {
    return this.o.catalog?.inspector ?? this.o.inspector;
  }

  private get generation(): number {
    return this.o.catalog?.generation ?? 0;
  }

  private decideNow(sql: string): Decision | null {
    let d: Decision | null;
    try {
      d = this.inspector.inspectNow(sql);
    } catch (err) {
      return this.inspectionFailed(err);
    }
    return d && this.masked(d, sql);
  }

  /** The guardrails' decision, refused (rule 'masking') when the session's masked columns do not allow the statement. */
  private masked(d: Decision, sql: string): Decision {
    if (!this.o.masks || !d.allowed) return d;
    let message: string | null;
    try {
      message = this.o.masks.refusal(d, sql);
    } catch (err) {
      this.o.log.error({ err: err instanceof Error ? err.message : String(err) }, 'postgres gateway: a statement could not be checked against the masked columns');
      message = 'airlock: the statement could not be checked against the masked columns, so it was refused';
    }
    return message === null ? d : { ...d, allowed: false, rule: 'masking', message };
  }

  /** A statement only a worker can parse: what was allowed before it goes out now; the pump resumes after it. */
  private async decideLater(msg: Buffer, stmt: StatementText): Promise<void> {
    this.flushUpstream();
    let d: Decision;
    try {
      d = this.masked(await this.inspector.inspectAsync(stmt.sql), stmt.sql);
    } catch (err) {
      d = this.inspectionFailed(err);
    }
    this.pumping = false;
    if (this.ending) return;
    try {
      if (this.statement(msg, stmt, d)) return;
    } catch (err) {
      return this.protocolError(err);
    }
    this.pump();
  }

  private inspectionFailed(err: unknown): Decision {
    this.o.log.error({ err: err instanceof Error ? err.message : String(err) }, 'postgres gateway: a statement could not be inspected');
    return { allowed: false, rule: 'inspection_failed', message: 'airlock: the statement could not be checked, so it was refused', statements: [], fingerprint: null, redacted: '', reads_only: false };
  }

  /**
   * A Query (stmt.name === null) or a Parse, with the guardrails' decision on its text. True when the Query is held
   * for review: the pump is suspended until it is decided.
   */
  private statement(msg: Buffer, stmt: StatementText, d: Decision): boolean {
    if (stmt.name === null) {
      const run = newRun(d);
      if (d.allowed && this.o.hold?.needs(d)) return this.holdForReview(msg, F.Query, run, stmt.sql, null, d);
      if (d.allowed) this.forwardStatement(msg, F.Query, run, d, stmt.sql);
      else {
        this.refused(run);
        this.forward(queryMessage(REFUSED_SQL), F.Query, null, refusalMessage(d), refusalError(d));
      }
      return false;
    }
    const name = stmt.name;
    if (d.allowed) {
      const settled = this.names.parsed(name, d, stmt.sql, this.generation);
      this.sendUpstream(msg);
      this.replies.expect({ type: F.Parse, run: null, refusal: null, settled });
      return false;
    }
    this.refused(newRun(d));
    // The server drops the unnamed statement before parsing; a named one that exists stays as it was.
    if (name === '') this.names.closed('');
    this.forward(parseMessage(name, REFUSED_SQL), F.Parse, null, refusalMessage(d), refusalError(d));
    this.clientSkipping = true;
    return false;
  }

  /** True when the Bind must wait for its statement's Parse to be answered (the pump resumes then). */
  private onBind(msg: Buffer): boolean {
    const { portal, statement, at } = bindNames(msg);
    if (this.names.mustWait(statement, () => this.resume())) {
      this.inq[--this.inHead] = msg;
      this.inBytes += msg.length;
      this.flushUpstream();
      return true;
    }
    let prepared = this.names.get(statement);
    // Decided under a catalog that has changed since: judged again (the function it calls may write now); refused
    // now, the Bind fails in its place as a refused Parse does (REFUSED_SQL, then skip to Sync).
    if (prepared && prepared.generation !== this.generation) {
      const d = this.decideNow(prepared.sql);
      if (d && !d.allowed) {
        this.refused(newRun(d));
        this.forward(parseMessage(REVIEW_REFUSED_NAME, REFUSED_SQL), F.Parse, null, refusalMessage(d), refusalError(d));
        this.clientSkipping = true;
        return false;
      }
      prepared = this.names.redecided(statement, d, this.generation);
    }
    const decision = prepared?.d ?? null;
    this.portals.set(portal, { decision, limit: { rows: 0 }, review: this.o.hold?.forBind(statement, prepared, msg, at) ?? null, sql: prepared?.sql ?? null, generation: this.generation });
    this.shapes.delete(portal);
    this.forward(msg, F.Bind);
    return false;
  }

  /** Resumes a pump suspended for something other than a review (it checks the session has not ended). */
  private resume(): void {
    this.pumping = false;
    if (!this.ending) this.pump();
  }

  /** An allowed statement goes upstream: what it may change (prepared names) is forgotten from here on. */
  private forwardStatement(msg: Buffer, type: number, run: Run, d: Decision | null, sql: string | null): void {
    this.forward(msg, type, run);
    this.names.sent(d);
    this.o.catalog?.sent(d, sql);
  }

  /** True when the Execute is held for review (the pump is suspended until it is decided). */
  private onExecute(msg: Buffer): boolean {
    const [portal] = readCString(msg, 5, msg.length);
    const p = this.portals.get(portal);
    // A portal bound under a catalog that has changed since: its decision may be wrong now, so it counts as unknown.
    if (p && p.generation !== this.generation) {
      if (this.o.hold) return this.holdForReview(msg, F.Execute, unknownRun(), p.sql ?? `/* airlock: Execute of portal "${portal}", bound before the database's catalog changed */`, p.review?.parameters ?? null, null);
      this.forwardStatement(msg, F.Execute, unknownRun(), null, p.sql);
      return false;
    }
    const run = p?.decision ? newRun(p.decision, p.limit) : unknownRun();
    if (p?.review) return this.holdForReview(msg, F.Execute, run, p.review.sql, p.review.parameters, p.decision);
    if (!p && this.o.hold) return this.holdForReview(msg, F.Execute, run, `/* airlock: Execute of portal "${portal}", which no Bind made */`, null, null);
    this.forwardStatement(msg, F.Execute, run, p ? p.decision : null, p?.sql ?? null);
    return false;
  }

  /**
   * A statement the role's review rule holds: what was allowed before it goes out, nothing after it is handled until
   * a person decides (statement-hold.ts). Approved, it goes upstream as the bytes that came (through logBeforeForward
   * like any statement); otherwise the server runs REFUSED_SQL in its place, so an open transaction aborts and the
   * extended protocol skips to Sync exactly as if the statement had failed, and the client reads the review's error.
   */
  private holdForReview(msg: Buffer, type: number, run: Run, sql: string, parameters: (string | null)[] | null, d: Decision | null): true {
    this.pumping = true;
    this.flushUpstream();
    this.reviewing = run;
    void this.o.hold!.hold(sql, parameters, d, (notice) => this.notice(notice)).then((o) => {
      if (this.reviewing !== run) return; // the session ended meanwhile, and audited the statement then
      this.reviewing = null;
      if (o.review_id !== null) run.review_id = o.review_id;
      try {
        if (o.run) {
          run.started = performance.now();
          this.forwardStatement(msg, type, run, d, sql);
        } else {
          run.rule = o.rule;
          run.error = o.message;
          this.refused(run);
          if (type === F.Query) this.forward(queryMessage(REFUSED_SQL), F.Query, null, o.message, o.error);
          else {
            this.forward(parseMessage(REVIEW_REFUSED_NAME, REFUSED_SQL), F.Parse, null, o.message, o.error);
            this.clientSkipping = true;
          }
        }
      } catch (err) {
        return this.protocolError(err);
      }
      this.pumping = false;
      this.pump();
    });
    return true;
  }

  /** The session ends while a statement is held: its review is withdrawn and the statement audited as not run. */
  private endReview(reason: string): void {
    const run = this.reviewing;
    if (!run) return;
    this.reviewing = null;
    const id = this.o.hold!.reviewId;
    if (id !== null) run.review_id = id;
    run.rule = 'review_withdrawn';
    run.error = `session ended: ${reason}`;
    this.refused(run);
    this.o.hold!.end(reason);
  }

  private onClose(msg: Buffer): void {
    if (msg.length < 7) throw new ProtocolError('Close message is too short');
    const [name] = readCString(msg, 6, msg.length);
    if (msg[5] === 0x53) this.names.closed(name);
    else if (msg[5] === 0x50) {
      this.portals.delete(name);
      this.shapes.delete(name);
    }
    this.forward(msg, F.Close);
  }

  private refused(run: Run): void {
    run.decision = 'refused';
    this.o.onStatement(this.replies.record(run));
  }

  private terminate(): void {
    this.flushUpstream();
    this.ending = true;
    // Statements the client sent before it left still run, once their events are durable.
    if (this.held.length > 0) this.terminateAfterHeld = true;
    else this.upstream.end(TERMINATE);
    this.client.end();
    // What was sent on runs to its end on the server (its Terminate follows it), but nobody reads how it ended.
    this.replies.abandon('client closed', 'result not read: the client had left');
    this.endReview('client closed');
    this.o.onEnd('client closed');
  }

  private protocolError(err: unknown): void {
    const text = err instanceof ProtocolError ? err.userText : 'internal error in the gateway; the error is in its log';
    if (!(err instanceof ProtocolError)) this.o.log.error({ err: err instanceof Error ? err.stack : String(err) }, 'postgres gateway: relay failed');
    this.shutdown(err instanceof ProtocolError ? `protocol error: ${err.message}` : 'internal error', errorResponse({ severity: 'FATAL', code: err instanceof ProtocolError ? '08P01' : 'XX000', message: `airlock: ${text}`, airlock: err instanceof ProtocolError ? 'AIRLOCK_PROTOCOL_ERROR' : 'AIRLOCK_INTERNAL' }));
  }

  /**
   * Stops both directions: cancels what the upstream runs (a backend busy in a long query would not notice its
   * socket closing), sends the client `fatal` at the next message boundary, and closes both sockets.
   */
  private shutdown(reason: string, fatal: Buffer | null): void {
    if (this.ending) return;
    this.ending = true;
    if (this.busy) void this.o.cancelUpstream();
    const close = () => {
      this.finishingMessage = false;
      this.upstream.pause();
      if (fatal) this.toClient(fatal);
      this.flushClient();
      this.client.end();
      if (this.upstream.writable) this.upstream.end(TERMINATE);
    };
    // A message already partly sent must be completed before the FATAL can follow it; a client that does not read
    // it is cut off by the timer below.
    this.finishingMessage = this.scanner.midMessage;
    this.readingClient = false;
    this.client.pause();
    this.updateFlow();
    this.scanner.stopWhenAtBoundary(close);
    const timer = setTimeout(() => {
      this.client.destroy();
      this.upstream.destroy();
    }, 1000);
    timer.unref();
    this.replies.abandon(reason);
    this.endReview(reason);
    this.o.onEnd(reason);
  }

  /** Called when either socket closed: the other one goes too. */
  private end(reason: string): void {
    if (!this.ending) {
      this.ending = true;
      // A backend does not notice its client leaving while it runs a query; stop the query with the session.
      if (reason === 'client closed' && this.busy) void this.o.cancelUpstream();
      this.replies.abandon(reason);
      this.endReview(reason);
      this.o.onEnd(reason);
    }
    if (reason === 'upstream closed') this.client.end();
    else if (this.upstream.writable && !this.terminateAfterHeld) this.upstream.end(TERMINATE);
    setTimeout(() => {
      this.client.destroy();
      this.upstream.destroy();
    }, 1000).unref();
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * The prepared statement name of the Parse that stands in for a held Execute that may not run: the Parse fails in
 * the server's parser, so the name is never created, and the client's own statements are left alone.
 */
const REVIEW_REFUSED_NAME = 'airlock_review_refused';

/** The text of a Query (name null) or of a Parse (the prepared statement's name, '' for the unnamed one). */
interface StatementText {
  sql: string;
  name: string | null;
}

function queryText(msg: Buffer): StatementText {
  const [sql, end] = readCString(msg, 5, msg.length);
  if (end !== msg.length) throw new ProtocolError('Query message has bytes after its text');
  return { sql, name: null };
}

function parseText(msg: Buffer): StatementText {
  const [name, at] = readCString(msg, 5, msg.length);
  const [sql] = readCString(msg, at, msg.length);
  return { sql, name };
}

function refusalMessage(d: Decision): string {
  return d.message ?? `airlock: statement refused by rule ${d.rule ?? 'unknown'}`;
}

/** The ErrorResponse of a refusal when it is not the guardrails' (AIRLOCK_STATEMENT_REFUSED): masking's. */
function refusalError(d: Decision): Buffer | undefined {
  if (d.rule !== 'masking') return undefined;
  return errorResponse({ severity: 'ERROR', code: '42501', message: refusalMessage(d), airlock: 'AIRLOCK_MASKING_REFUSED' });
}

/** Describe('P') of a portal: the gateway's own, to learn which columns an Execute's rows carry (masking). */
function describePortal(portal: string): Buffer {
  return typedMessage(F.Describe, new BodyWriter().byte(0x50).cstring(portal).build());
}

function newRun(d: Decision, limit: RowLimit = { rows: 0 }): Run {
  return { text: d.redacted, fingerprint: d.fingerprint, rule: d.rule ?? null, decision: 'allowed', started: performance.now(), rows: 0, forwarded: 0, limit, truncated: false, error: null, cursorOps: cursorOpsOf(d.statements), stmt: 0, limitReady: false, readsOnly: d.reads_only };
}

/**
 * An Execute of a portal bound to a statement the gateway has no text for: one prepared with SQL PREPARE (whose
 * text was inspected as that statement) or none at all (the server will refuse it).
 */
function unknownRun(): Run {
  return { text: '(a statement prepared with SQL PREPARE, or an unknown portal)', fingerprint: null, rule: null, decision: 'allowed', started: performance.now(), rows: 0, forwarded: 0, limit: { rows: 0 }, truncated: false, error: null, cursorOps: null, stmt: 0, limitReady: false, readsOnly: false };
}
