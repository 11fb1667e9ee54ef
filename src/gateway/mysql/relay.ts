// Relays one MySQL session command by command: the client's packets are framed and judged (commands.ts), the
// server's response is forwarded as it arrives, with backpressure, and read enough to know where it ends and how
// many rows it holds; a session can be ended at any moment with an ERR the client reads.
import type { Socket } from 'node:net';
import type { Log } from '../../domain/log.js';
import type { RelayedBytes } from '../types.js';
import { CAP, COM, MAX_PACKET_PAYLOAD, PacketReader, ProtocolError, errPayload, framePacket, partsFor, type Packet } from './packets.js';
import { ResponseTracker, type ResponseKind } from './responses.js';
import type { ResultMasker } from './result-masking.js';

export interface RelayIo {
  client: Socket;
  clientReader: PacketReader;
  clientQueued: Packet[];
  upstream: Socket;
  upstreamQueued: Packet[];
  /** The client's negotiated capabilities (EOF packets or not). */
  capabilities: number;
  /** Ends the running query on the server (KILL QUERY on a side connection). */
  /** KILL QUERY of this session's upstream thread on a side connection; resolves with the server's answer. */
  killUpstreamQuery(): Promise<unknown>;
  /**
   * Removes the upstream login's user name and password from a server message the client or the audit reads (and, in
   * a session with masked columns, the values an error quotes); `code` is the server's error number.
   */
  scrub?: (text: string, code: number) => string;
  onEnd(reason: string): void;
  log: Log;
  bytes?: RelayedBytes;
}

/** What the relay reports about a forwarded command once its response is complete. */
export interface Outcome {
  rows: number;
  affected: number;
  error: { code: number; sqlstate: string; message: string } | null;
  prepared: { id: number; params: number } | null;
  /** Set when a guardrail cut the result short. */
  cut: string | null;
  status: number;
}

/** Commands a client may send after login (the rest end the session as soon as their first byte is in). */
const KNOWN_COMMANDS = new Set<number>(Object.values(COM));

/** Above this many queued client packets the client socket is paused (a pipelining client waits). */
const CLIENT_QUEUE_LIMIT = 64;

export class Relay {
  private queue: Packet[];
  private busy = false;
  /** A KILL QUERY sent for the running command: set once per command, so a session end does not send a second. */
  private killSent = false;
  /** The max_rows KILL QUERY in flight: the next command waits for it, so that it cannot hit that one. */
  private pendingKill: Promise<unknown> | null = null;
  private ended = false;
  private tracker: ResponseTracker | null = null;
  private finish: ((o: Outcome) => void) | null = null;
  private maxRowsOfCommand: number | null = null;
  private cut: string | null = null;
  /** Masks the rows of the command's results (a session with masked columns, a statement that may show them). */
  private masker: ResultMasker | null = null;
  /**
   * How far the server's sequence ids are behind the client's: a masked row that needs another number of wire packets
   * than the server's (a 16 MiB boundary crossed) shifts every later packet of the response.
   */
  private seqShift = 0;
  /** The wire packets of a masked row longer than one packet, collected until it is whole (one row at a time). */
  private rowParts: Buffer[] | null = null;
  private rowSeq = 0;
  /** Chunks of the server's incomplete packet, their bytes, and how many bytes make it whole (or its header). */
  private upPending: Buffer[] = [];
  private upPendingBytes = 0;
  private upNeed = 4;
  private continuing = false;
  private lastSeq = 0;
  /** The sequence id of the first reply to the command being handled (after all its parts). */
  private replySeq = 1;
  private clientPaused = false;
  private upstreamPaused = false;
  /** Called for each client command; resolves when the command is fully answered. */
  onCommand: (p: Packet) => Promise<void> = async () => {};

  constructor(readonly io: RelayIo) {
    this.queue = io.clientQueued;
    io.clientReader.checkStart = (seq, cmd) => (seq !== 0 ? 'a command packet out of sequence' : KNOWN_COMMANDS.has(cmd) ? null : `command 0x${cmd.toString(16).padStart(2, '0')} is not relayed by the gateway`);
  }

  get deprecateEof(): boolean {
    return (this.io.capabilities & CAP.DEPRECATE_EOF) !== 0;
  }

  /** Whether a command is waiting for the server. */
  get running(): boolean {
    return this.tracker !== null;
  }

  start(): void {
    const { client, upstream } = this.io;
    client.on('data', this.onClientData);
    client.on('close', () => this.end('the client closed the connection'));
    client.on('error', () => this.end('the client connection failed'));
    client.on('drain', this.onClientDrain);
    upstream.on('data', this.onUpstreamData);
    upstream.on('close', () => this.end('the database server closed the connection', 'the database server closed the connection'));
    upstream.on('error', () => this.end('the database connection failed', 'the database connection failed'));
    if (this.io.upstreamQueued.length) return this.end('the database server sent packets nobody asked for', 'protocol error from the database server');
    // It may have closed while the session was being registered (its 'close' came before these listeners).
    if (upstream.destroyed) return this.end('the database server closed the connection', 'the database server closed the connection');
    if (client.destroyed) return this.end('the client closed the connection');
    upstream.resume();
  }

  /** Starts reading the client's commands (after the gateway's own setup statements and the login OK). */
  run(): void {
    this.io.client.resume();
    void this.pump();
  }

  /** Sends a reply the gateway makes itself (OK/ERR) to the command being handled. */
  reply(payload: Buffer): void {
    this.write(framePacket(payload, this.replySeq));
  }

  /**
   * Sends a command to the server and forwards its response; resolves when the response is complete. `masker`: its
   * rows pass through it (column definitions tell it which cells to mask).
   */
  forward(payload: Buffer, kind: ResponseKind, maxRows: number | null = null, masker: ResultMasker | null = null): Promise<Outcome> {
    if (this.ended) return Promise.resolve({ rows: 0, affected: 0, error: { code: 2013, sqlstate: 'HY000', message: 'the session ended' }, prepared: null, cut: null, status: 0 });
    this.io.upstream.write(framePacket(payload, 0));
    if (this.io.bytes) this.io.bytes.toUpstream += payload.length + 4;
    const p = this.expect(kind, maxRows);
    if (this.tracker) this.masker = masker;
    return p;
  }

  /** Sends a command upstream whose response the client never sees (the session's own setup). */
  internal(sql: string): Promise<Outcome> {
    return this.internalCommand(Buffer.concat([Buffer.from([0x03]), Buffer.from(sql, 'utf8')]), 'result');
  }

  internalCommand(payload: Buffer, kind: ResponseKind): Promise<Outcome> {
    this.io.upstream.write(framePacket(payload, 0));
    const p = this.expect(kind, null);
    if (this.tracker) this.cut = 'internal';
    return p;
  }

  private expect(kind: ResponseKind, maxRows: number | null): Promise<Outcome> {
    const t = new ResponseTracker(kind, this.deprecateEof);
    if (t.done) return Promise.resolve({ rows: 0, affected: 0, error: null, prepared: null, cut: null, status: 0 });
    this.tracker = t;
    this.killSent = false;
    this.maxRowsOfCommand = maxRows;
    this.masker = null;
    this.seqShift = 0;
    this.rowParts = null;
    this.continuing = false;
    this.lastSeq = (this.replySeq - 1) & 0xff;
    return new Promise((resolve) => (this.finish = resolve));
  }

  /**
   * Ends the session: a running query is killed on the server first, then the client reads `reason` in an ERR
   * (as the end of its result when one is streaming), then both connections close.
   */
  kill(reason: string, code = 1927, sqlstate = '70100'): void {
    if (this.ended) return;
    const running = this.running;
    const seq = running && this.cut === null ? this.lastSeq + 1 : 0;
    const msg = framePacket(errPayload(code, sqlstate, `airlock: ${reason}`), seq);
    const close = () => {
      if (this.io.client.writable) this.io.client.end(msg);
      this.end(reason);
    };
    this.io.upstream.pause();
    if (!running) return close();
    const timer = setTimeout(close, 800);
    this.killSent = true;
    this.io.killUpstreamQuery().then(
      () => (clearTimeout(timer), close()),
      () => (clearTimeout(timer), close()),
    );
  }

  /** Ends at once; `clientText` is written as an ERR first when given. */
  end(reason: string, clientText?: string): void {
    if (this.ended) return;
    if (clientText && this.io.client.writable) {
      const seq = this.running ? this.lastSeq + 1 : 0;
      this.io.client.write(framePacket(errPayload(2013, 'HY000', `airlock: ${clientText}`), seq));
    }
    this.ended = true;
    const { client, upstream } = this.io;
    // A statement still running (the client left mid-query) is killed on the server, not left to run to its end.
    if (this.running && !this.killSent && !upstream.destroyed) void this.io.killUpstreamQuery().catch(() => {});
    upstream.destroy();
    client.end();
    setTimeout(() => client.destroy(), 1000).unref();
    this.finish?.({ rows: 0, affected: 0, error: { code: 2013, sqlstate: 'HY000', message: reason }, prepared: null, cut: null, status: 0 });
    this.finish = null;
    this.io.onEnd(reason);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private write(buf: Buffer): void {
    if (this.io.bytes) this.io.bytes.toClient += buf.length;
    if (!this.io.client.write(buf) && !this.upstreamPaused) {
      this.upstreamPaused = true;
      this.io.upstream.pause();
    }
  }

  private readonly onClientDrain = () => {
    if (this.upstreamPaused) {
      this.upstreamPaused = false;
      this.io.upstream.resume();
    }
  };

  private readonly onClientData = (chunk: Buffer) => {
    try {
      this.io.clientReader.push(chunk, (p) => this.queue.push(p));
    } catch (err) {
      const text = err instanceof ProtocolError ? err.userText : 'the packet could not be read';
      return this.end(`protocol error from the client: ${text}`, text);
    }
    if (this.queue.length > CLIENT_QUEUE_LIMIT && !this.clientPaused) {
      this.clientPaused = true;
      this.io.client.pause();
    }
    void this.pump();
  };

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (!this.ended) {
        const p = this.queue.shift();
        if (!p) break;
        if (this.clientPaused && this.queue.length < CLIENT_QUEUE_LIMIT / 2) {
          this.clientPaused = false;
          this.io.client.resume();
        }
        if (p.seq !== 0) throw new ProtocolError('a command packet out of sequence');
        this.replySeq = p.parts & 0xff;
        if (this.pendingKill) {
          await this.pendingKill;
          this.pendingKill = null;
          if (this.ended) break;
        }
        await this.onCommand(p);
      }
    } catch (err) {
      if (err instanceof ProtocolError) this.end(`protocol error: ${err.userText}`, err.userText);
      else {
        this.io.log.error({ err: err instanceof Error ? err.stack : String(err) }, 'mysql gateway: relay failed');
        this.end('internal error in the gateway', 'internal error in the gateway; the error is in its log');
      }
    } finally {
      this.busy = false;
    }
  }

  private readonly onUpstreamData = (chunk: Buffer) => {
    try {
      this.scanUpstream(chunk);
    } catch (err) {
      const text = err instanceof ProtocolError ? err.userText : String(err);
      this.end(`protocol error from the database server: ${text}`, `protocol error from the database server: ${text}`);
    }
  };

  /** Walks the server's wire packets; forwards whole packets as they complete (one write per chunk). */
  private scanUpstream(chunk: Buffer): void {
    // An incomplete packet waits as a list of chunks, joined once it is whole (or its header is in): joining on every
    // chunk would cost quadratic time for a large row.
    if (this.upPendingBytes > 0) {
      this.upPending.push(chunk);
      this.upPendingBytes += chunk.length;
      if (this.upPendingBytes < this.upNeed) return;
      chunk = Buffer.concat(this.upPending, this.upPendingBytes);
      this.upPending = [];
      this.upPendingBytes = 0;
    }
    let buf = chunk;
    let off = 0;
    let from = 0;
    const t = () => this.tracker;
    while (buf.length - off >= 4) {
      const len = buf.readUIntLE(off, 3);
      if (buf.length - off < 4 + len) break;
      const tr = t();
      if (!tr) throw new ProtocolError('the server sent a packet nobody asked for');
      let seq = buf[off + 3]!;
      if (this.seqShift !== 0) {
        seq = (seq + this.seqShift) & 0xff;
        buf[off + 3] = seq;
      }
      const first = !this.continuing;
      this.continuing = len === 0xffffff;
      let replaced = false;
      if (this.rowParts !== null) {
        // A later wire packet of a masked row: collected, and the row is sent once whole.
        this.rowParts.push(Buffer.from(buf.subarray(off + 4, off + 4 + len)));
        replaced = true;
        if (!this.continuing) seq = this.maskedRow(Buffer.concat(this.rowParts), this.rowSeq, this.rowParts.length, buf, from, off);
      } else if (first) {
        const payload = buf.subarray(off + 4, off + 4 + len);
        const phase = this.masker === null ? null : tr.phase;
        const errBefore = tr.error;
        const isRow = tr.feed(payload, len);
        if (tr.error !== errBefore && this.io.scrub && this.cut === null) replaced = this.scrubErr(buf, from, off, len, seq);
        if (isRow && this.cut === null && this.maxRowsOfCommand !== null && tr.rowsThisResult > this.maxRowsOfCommand) {
          // The client's result ends here with an ERR in the place of the row; the rest is read and dropped.
          this.flush(buf, from, off);
          this.cut = `the result has more than ${this.maxRowsOfCommand} rows (max_rows of your role); add a LIMIT or a narrower WHERE`;
          this.write(framePacket(errPayload(1317, '70100', `airlock: statement refused by rule max_rows: ${this.cut}`), seq));
          this.killSent = true;
          this.pendingKill = this.io.killUpstreamQuery().catch(() => {});
        }
        const m = this.masker;
        if (m !== null && this.cut === null) {
          if (phase === 'first' && tr.phase === 'columns') m.begin();
          else if (phase === 'columns') m.column(payload);
          else if (isRow && m.active) {
            replaced = true;
            if (this.continuing) {
              this.flush(buf, from, off);
              this.rowParts = [Buffer.from(payload)];
              this.rowSeq = seq;
            } else {
              seq = this.maskedRow(payload, seq, 1, buf, from, off);
            }
          }
        }
      }
      this.lastSeq = seq;
      off += 4 + len;
      if (this.cut !== null || replaced) from = off;
      if (tr.done && !this.continuing) {
        this.flush(buf, from, off);
        from = off;
        if (off !== buf.length) throw new ProtocolError('the server sent more than its response');
        this.complete(tr);
        buf = Buffer.alloc(0);
        off = 0;
        break;
      }
    }
    this.flush(buf, from, off);
    const rest = buf.subarray(off);
    if (rest.length) {
      this.upPending = [rest.length < 65536 ? Buffer.from(rest) : rest];
      this.upPendingBytes = rest.length;
      this.upNeed = rest.length >= 4 ? 4 + rest.readUIntLE(0, 3) : 4;
    }
  }

  /**
   * Sends a masked row (its payload joined from `parts` wire packets starting at sequence id `seq`) after what came
   * before it; returns the sequence id of its last wire packet as the client sees it.
   */
  private maskedRow(payload: Buffer, seq: number, parts: number, buf: Buffer, from: number, off: number): number {
    this.flush(buf, from, off);
    this.rowParts = null;
    const framed = this.masker!.row(payload, 4);
    const length = framed === null ? payload.length : framed.length - 4;
    if (framed !== null && length < MAX_PACKET_PAYLOAD) {
      framed.writeUIntLE(length, 0, 3);
      framed[3] = seq;
      this.write(framed);
    } else {
      this.write(framePacket(framed === null ? payload : framed.subarray(4), seq));
    }
    this.seqShift = (this.seqShift + partsFor(length) - parts) & 0xff;
    return (seq + partsFor(length) - 1) & 0xff;
  }

  /**
   * An ERR from the server may name the upstream login ("Access denied for user 'airlock_…'@'%'"), a credential of
   * its own for a per-grant user: when it does, the bytes before it are forwarded and a scrubbed copy replaces it.
   */
  private scrubErr(buf: Buffer, from: number, off: number, len: number, seq: number): boolean {
    const payload = buf.subarray(off + 4, off + 4 + len);
    const head = payload.length >= 9 && payload[3] === 0x23 ? 9 : 3;
    const text = payload.subarray(head).toString('utf8');
    const clean = this.io.scrub!(text, payload.readUInt16LE(1));
    if (clean === text) return false;
    this.flush(buf, from, off);
    this.write(framePacket(Buffer.concat([payload.subarray(0, head), Buffer.from(clean, 'utf8')]), seq));
    return true;
  }

  private flush(buf: Buffer, from: number, to: number): void {
    if (to > from && this.cut === null) this.write(buf.subarray(from, to));
  }

  private complete(tr: ResponseTracker): void {
    const cut = this.cut === 'internal' ? null : this.cut;
    this.cut = null;
    this.tracker = null;
    const f = this.finish;
    this.finish = null;
    this.masker = null;
    this.seqShift = 0;
    this.rowParts = null;
    const error = tr.error && this.io.scrub ? { ...tr.error, message: this.io.scrub(tr.error.message, tr.error.code) } : tr.error;
    f?.({ rows: tr.rows, affected: tr.affected, error, prepared: tr.prepared, cut, status: tr.status });
  }
}
