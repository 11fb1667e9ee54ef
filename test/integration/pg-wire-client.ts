// A raw wire-protocol client for gateway tests: startup packets with any parameters, queries as exact bytes, and
// every reply message counted and decoded (DataRows, ErrorResponse fields including the hint).
import { connect, type Socket } from 'node:net';
import { MessageReader } from '../../src/gateway/postgres/framing.js';
import { B, startupMessage, typedMessage, F } from '../../src/gateway/postgres/protocol.js';
import { openUpstream, type UpstreamConnection } from '../../src/gateway/postgres/upstream.js';

export interface WireError {
  severity: string;
  code: string;
  message: string;
  hint: string;
}

export interface WireReply {
  /** Message type letters in order, e.g. 'TDDCZ'. */
  types: string;
  rows: string[][];
  errors: WireError[];
  /** The ReadyForQuery status byte as a letter, '' if the connection ended first. */
  status: string;
  /** ParameterStatus messages seen, name → value. */
  params: Map<string, string>;
  closed: boolean;
}

export function parseError(msg: Buffer): WireError {
  const f: Record<string, string> = {};
  let at = 5;
  while (at < msg.length && msg[at] !== 0) {
    const key = String.fromCharCode(msg[at]!);
    const end = msg.indexOf(0, at + 1);
    f[key] = msg.toString('utf8', at + 1, end);
    at = end + 1;
  }
  return { severity: f.V ?? f.S ?? '', code: f.C ?? '', message: f.M ?? '', hint: f.H ?? '' };
}

function dataRow(msg: Buffer): string[] {
  const n = msg.readInt16BE(5);
  const out: string[] = [];
  let at = 7;
  for (let i = 0; i < n; i++) {
    const len = msg.readInt32BE(at);
    at += 4;
    out.push(len < 0 ? 'NULL' : msg.toString('utf8', at, at + len));
    at += Math.max(len, 0);
  }
  return out;
}

/** Collects messages from a reader into a reply until `readyCount` ReadyForQuery messages or the end. */
export function collector(readyCount = 1): { reply: WireReply; onMessage(m: Buffer): void; done: Promise<WireReply>; end(): void } {
  const reply: WireReply = { types: '', rows: [], errors: [], status: '', params: new Map(), closed: false };
  let resolve!: (r: WireReply) => void;
  const done = new Promise<WireReply>((r) => (resolve = r));
  let ready = 0;
  return {
    reply,
    done,
    end() {
      reply.closed = true;
      resolve(reply);
    },
    onMessage(m: Buffer) {
      const t = m[0]!;
      reply.types += String.fromCharCode(t);
      if (t === B.DataRow) reply.rows.push(dataRow(m));
      else if (t === B.ErrorResponse) reply.errors.push(parseError(m));
      else if (t === B.ParameterStatus) {
        const nul = m.indexOf(0, 5);
        reply.params.set(m.toString('utf8', 5, nul), m.toString('utf8', nul + 1, m.indexOf(0, nul + 1)));
      } else if (t === B.ReadyForQuery) {
        reply.status = String.fromCharCode(m[5]!);
        if (++ready === readyCount) resolve(reply);
      }
    },
  };
}

/** Sends a startup packet (no TLS) and reads the gateway's first answer: a refusal here needs no login. */
export function rawStartup(port: number, params: Record<string, string>): Promise<WireReply> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, '127.0.0.1', () => s.write(startupMessage(params)));
    const c = collector();
    const reader = new MessageReader(1 << 20);
    s.on('data', (chunk: Buffer) => reader.push(chunk, (m) => c.onMessage(m)));
    s.on('close', () => c.end());
    s.on('error', () => {});
    void c.done.then(resolve);
  });
}

/** A logged-in session through the gateway (SCRAM with the token) that sends exact bytes and returns replies. */
export class WireSession {
  private current: ReturnType<typeof collector> | null = null;
  private readonly reader = new MessageReader(1 << 24);
  closed = false;

  private constructor(readonly conn: UpstreamConnection) {
    conn.read((chunk: Buffer) => this.reader.push(chunk, (m) => this.current?.onMessage(m)));
    conn.socket.on('close', () => {
      this.closed = true;
      this.current?.end();
    });
    conn.socket.on('error', () => {});
    conn.socket.resume();
  }

  /** Wraps a connection opened some other way (e.g. straight to PostgreSQL). */
  static over(conn: UpstreamConnection): WireSession {
    return new WireSession(conn);
  }

  static async open(port: number, token: string, database: string, params: Record<string, string> = {}): Promise<WireSession> {
    return new WireSession(await openUpstream({ host: '127.0.0.1', port, user: 'alice', password: token, database }, params));
  }

  /** Writes `bytes` and collects the replies up to the `readyCount`-th ReadyForQuery (or the end of the connection). */
  send(bytes: Buffer, readyCount = 1): Promise<WireReply> {
    const c = collector(readyCount);
    this.current = c;
    if (this.closed) c.end();
    else this.conn.socket.write(bytes);
    return c.done;
  }

  /** A simple Query whose text is given as raw bytes (any encoding), NUL-terminated here. */
  queryBytes(sql: Buffer): Promise<WireReply> {
    return this.send(typedMessage(F.Query, Buffer.concat([sql, Buffer.of(0)])));
  }

  query(sql: string): Promise<WireReply> {
    return this.queryBytes(Buffer.from(sql, 'utf8'));
  }

  close(): void {
    this.conn.socket.destroy();
  }
}
