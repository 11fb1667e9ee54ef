// The gateway's own small MySQL client for the resource's server: handshake, optional TLS, the login with the
// plan's upstream credential (mysql_native_password, caching_sha2_password, auth switch), the schema; and the short
// side connection that kills a query.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { UpstreamLogin } from '../types.js';
import { CAP, PacketReader, framePacket, readCString, statusOf, type Packet } from './packets.js';
import { CACHING_SHA2, NATIVE, isSafeCollation, nativeProof, sha2Proof } from './handshake.js';

export class UpstreamLoginError extends Error {
  constructor(
    message: string,
    readonly code?: number,
    /** Set when the gateway itself refused the server's terms (a clear-text password), not the server the login. */
    readonly airlockCode?: 'AIRLOCK_UPSTREAM_AUTH',
  ) {
    super(message);
    this.name = 'UpstreamLoginError';
  }
}

export interface UpstreamConnection {
  socket: Socket;
  /** The server's id for this connection (what KILL takes). */
  threadId: number;
  serverVersion: string;
  capabilities: number;
  /** The status flags of the login's OK (SERVER_STATUS_NO_BACKSLASH_ESCAPES among them). */
  status: number;
  /** Packets the server sent past the login (none expected), and undecoded bytes. */
  reader: PacketReader;
  queued: Packet[];
}

/** Reads packets from a socket one at a time during the login. */
class Wire {
  private queue: Packet[] = [];
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  seq = 0;
  constructor(
    public socket: Socket,
    readonly reader: PacketReader,
  ) {
    this.attach();
  }
  attach(): void {
    this.socket.on('data', this.onData);
    this.socket.on('close', this.onClose);
    this.socket.on('error', this.onError);
  }
  detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('error', this.onError);
  }
  send(payload: Buffer): void {
    this.socket.write(framePacket(payload, this.seq));
    this.seq = (this.seq + 1) & 0xff;
  }
  async packet(): Promise<Packet> {
    for (;;) {
      const p = this.queue.shift();
      if (p) {
        this.seq = (p.seq + p.parts) & 0xff;
        return p;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
  takeQueued(): Packet[] {
    const q = this.queue;
    this.queue = [];
    return q;
  }
  private signal(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
  private readonly onData = (c: Buffer) => {
    try {
      this.reader.push(c, (p) => this.queue.push(p));
    } catch (e) {
      this.failure = e as Error;
    }
    this.signal();
  };
  private readonly onClose = () => {
    this.failure ??= new UpstreamLoginError('the database server closed the connection during the login');
    this.signal();
  };
  private readonly onError = (e: Error) => {
    this.failure ??= new UpstreamLoginError(`the database server cannot be reached (${(e as NodeJS.ErrnoException).code ?? e.message})`);
    this.signal();
  };
}

function errText(p: Buffer): { code: number; message: string } {
  const code = p.length >= 3 ? p.readUInt16LE(1) : 0;
  const msg = p.length > 9 && p[3] === 0x23 ? p.subarray(9) : p.subarray(3);
  return { code, message: msg.toString('utf8') };
}

/** Which of the client's capabilities the upstream connection takes (result formats must match what the client expects). */
const PASSED_THROUGH = CAP.FOUND_ROWS | CAP.LONG_FLAG | CAP.INTERACTIVE | CAP.MULTI_STATEMENTS | CAP.MULTI_RESULTS | CAP.PS_MULTI_RESULTS | CAP.DEPRECATE_EOF;

export interface UpstreamOptions {
  /** The client's negotiated capabilities; only the result-format ones are passed on. */
  clientCapabilities: number;
  charset: number;
  connectTimeoutMs?: number;
  attributes?: Record<string, string>;
}

/** Opens and logs in; rejects with UpstreamLoginError whose message names no credential. */
export async function openUpstream(login: UpstreamLogin, o: UpstreamOptions): Promise<UpstreamConnection> {
  // The statement check reads text as the server does only in these character sets (login.ts refuses the others).
  if (!isSafeCollation(o.charset)) throw new UpstreamLoginError(`the character set (collation id ${o.charset}) is not one the gateway can check statements in`);
  const raw = connect({ host: login.host, port: login.port, noDelay: true });
  // Every socket keeps an 'error' listener for its whole life: between the login and the relay (and after either has
  // let go of it) an error with none would crash the process. Whoever holds the socket learns of it by 'close'.
  raw.on('error', ignoreError);
  raw.setKeepAlive(true, 60_000);
  const timer = setTimeout(() => raw.destroy(new Error('timed out')), o.connectTimeoutMs ?? 10_000);
  const wire = new Wire(raw, new PacketReader(1 << 24));
  try {
    const hello = (await wire.packet()).payload;
    if (hello[0] === 0xff) throw new UpstreamLoginError(`the database server refused the connection: ${errText(hello).message}`, errText(hello).code);
    if (hello[0] !== 10) throw new UpstreamLoginError('the database server did not answer with a MySQL handshake');
    const ver = readCString(hello, 1);
    let off = ver.next;
    const threadId = hello.readUInt32LE(off);
    off += 4;
    const part1 = hello.subarray(off, off + 8);
    off += 9;
    let serverCaps = hello.readUInt16LE(off);
    off += 2 + 1 + 2;
    serverCaps |= hello.readUInt16LE(off) << 16;
    off += 2;
    const authLen = hello[off]!;
    off += 11;
    const part2Len = Math.max(13, authLen - 8);
    const part2 = hello.subarray(off, off + part2Len);
    off += part2Len;
    const nonce = Buffer.concat([part1, part2]).subarray(0, 20);
    const serverPlugin = off < hello.length ? readCString(hello, off).value.toString('latin1') : NATIVE;

    // A login without a TLS setting (MySQL resources have no `tls` in the policy yet): TLS when the server offers
    // it, without verifying its certificate; never refused for lack of it.
    const security = login.security ?? { mode: 'prefer' as const, tls: { host: login.host, rejectUnauthorized: false, minVersion: 'TLSv1.2' as const } };
    const wantTls = security.mode !== 'disable' && security.tls !== null;
    const mustTls = wantTls && security.mode !== 'prefer';
    const useTls = wantTls && (serverCaps & CAP.SSL) !== 0;
    if (mustTls && !useTls) throw new UpstreamLoginError('the database server does not offer TLS, which the resource requires (tls.mode in the policy)');
    const caps =
      ((o.clientCapabilities & PASSED_THROUGH) | CAP.LONG_PASSWORD | CAP.PROTOCOL_41 | CAP.TRANSACTIONS | CAP.SECURE_CONNECTION | CAP.PLUGIN_AUTH | CAP.PLUGIN_AUTH_LENENC_DATA | CAP.CONNECT_WITH_DB | CAP.CONNECT_ATTRS | (useTls ? CAP.SSL : 0)) &
      (serverCaps | CAP.SSL);
    const fixed = Buffer.alloc(32);
    fixed.writeUInt32LE(caps >>> 0, 0);
    fixed.writeUInt32LE(1 << 30, 4);
    fixed[8] = o.charset;
    if (useTls) {
      wire.send(fixed);
      wire.detach();
      const secure = tlsConnect({ ...security.tls!, socket: raw });
      secure.on('error', ignoreError);
      await new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', resolve);
        secure.once('error', (e) => reject(new UpstreamLoginError(`the TLS handshake with the database server failed: ${e.message}`)));
      });
      wire.socket = secure;
      wire.attach();
    }
    const proofFor = (plugin: string, n: Buffer) => (plugin === CACHING_SHA2 ? sha2Proof(login.password, n) : nativeProof(login.password, n));
    const plugin = serverPlugin === CACHING_SHA2 ? CACHING_SHA2 : NATIVE;
    const proof = proofFor(plugin, nonce);
    const attrs = Object.entries({ _client_name: 'airlock-gateway', ...(o.attributes ?? {}) }).flatMap(([k, v]) => [lenStr(Buffer.from(k)), lenStr(Buffer.from(v))]);
    const attrBuf = Buffer.concat(attrs);
    wire.send(Buffer.concat([fixed, Buffer.from(`${login.user}\0`, 'utf8'), lenStr(proof), Buffer.from(`${login.database}\0`, 'utf8'), Buffer.from(`${plugin}\0`, 'latin1'), lenStr(attrBuf)]));
    for (let round = 0; round < 4; round++) {
      const p = (await wire.packet()).payload;
      if (p[0] === 0x00) {
        clearTimeout(timer);
        wire.detach();
        wire.socket.pause();
        return { socket: wire.socket, threadId, serverVersion: ver.value.toString('latin1'), capabilities: caps, status: statusOf(p), reader: wire.reader, queued: wire.takeQueued() };
      }
      if (p[0] === 0xff) {
        const e = errText(p);
        throw new UpstreamLoginError(`the database server refused the login (${e.code}): ${scrub(e.message, login)}`, e.code);
      }
      if (p[0] === 0xfe) {
        const name = readCString(p, 1);
        const data = p.subarray(name.next).subarray(0, 20);
        const next = name.value.toString('latin1');
        if (next !== NATIVE && next !== CACHING_SHA2) throw new UpstreamLoginError(`the database server asks for the ${next} method, which the gateway does not speak`);
        wire.send(proofFor(next, data));
        continue;
      }
      if (p[0] === 0x01 && p[1] === 0x03) continue; // caching_sha2 fast path succeeded; OK follows
      if (p[0] === 0x01 && p[1] === 0x04) {
        // Full authentication sends the password itself. Only over TLS whose certificate was checked: unverified TLS
        // (all MySQL resources have today, having no tls setting) gives it to whoever answers in the server's place.
        if (!useTls || security.tls?.rejectUnauthorized === false) {
          throw new UpstreamLoginError(
            `the database server asks for a full caching_sha2_password login, which sends the password itself; the gateway sends it only over TLS with a verified server certificate, which MySQL resources do not have yet (AIRLOCK_UPSTREAM_AUTH). Make the account use mysql_native_password (per-grant users do), or let the server cache it (one login over a secure connection)`,
            undefined,
            'AIRLOCK_UPSTREAM_AUTH',
          );
        }
        wire.send(Buffer.from(`${login.password}\0`, 'utf8'));
        continue;
      }
      throw new UpstreamLoginError('the database server sent an unexpected packet during the login');
    }
    throw new UpstreamLoginError('the login with the database server did not finish');
  } catch (err) {
    clearTimeout(timer);
    wire.detach();
    wire.socket.destroy();
    if (err instanceof UpstreamLoginError) throw err;
    throw new UpstreamLoginError(`the database server cannot be reached (${(err as Error).message})`);
  }
}

function ignoreError(): void {}

function lenStr(b: Buffer): Buffer {
  const n = b.length;
  const head = n < 251 ? Buffer.from([n]) : n < 0x10000 ? Buffer.from([0xfc, n & 0xff, n >> 8]) : Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]);
  return Buffer.concat([head, b]);
}

/**
 * Removes the login's password and user name from a server message. Only the password is secret: a per-grant user's
 * name can be read in the session (CURRENT_USER(), SHOW GRANTS), so scrubbing it only keeps error texts about the
 * principal rather than about Airlock's internal account.
 */
export function scrub(text: string, login: Pick<UpstreamLogin, 'user' | 'password'>): string {
  let t = text;
  for (const s of [login.password, login.user]) if (s && s.length >= 3) t = t.split(s).join('…');
  return t;
}

/**
 * Runs one statement on a fresh connection with the same login (KILL [QUERY] of a session's thread); resolves with the
 * server's answer: 'ok', 'error', or 'no answer' (none within 2 s, or the connection closed first).
 */
export async function sideStatement(login: UpstreamLogin, statement: string): Promise<'ok' | 'error' | 'no answer'> {
  const c = await openUpstream(login, { clientCapabilities: 0, charset: 45, connectTimeoutMs: 3000 });
  try {
    const payload = Buffer.concat([Buffer.from([0x03]), Buffer.from(statement, 'utf8')]);
    c.socket.write(framePacket(payload, 0));
    return await new Promise<'ok' | 'error' | 'no answer'>((resolve) => {
      // The answer is one small packet: header (4 bytes), then 0x00 for OK or 0xff for ERR.
      c.socket.once('data', (b: Buffer) => resolve(b[4] === 0xff ? 'error' : 'ok'));
      c.socket.once('close', () => resolve('no answer'));
      setTimeout(() => resolve('no answer'), 2000).unref();
      // openUpstream hands the socket over paused; the answer is read only once it flows again.
      c.socket.resume();
    });
  } finally {
    c.socket.destroy();
  }
}

/** What a statement inspector needs to know about the server: which version comments it executes, how it reads quotes. */
export interface UpstreamFacts {
  /** MariaDB or MySQL and its version as version comments write it (101119 for 10.11.19); null when unreadable. */
  server: { mariadb: boolean; version: number } | null;
  /** The session reads backslashes in strings as plain characters (sql_mode NO_BACKSLASH_ESCAPES) at login. */
  noBackslashEscapes: boolean;
}

const SERVER_STATUS_NO_BACKSLASH_ESCAPES = 0x0200;

export function upstreamFacts(c: Pick<UpstreamConnection, 'serverVersion' | 'status'>): UpstreamFacts {
  // MariaDB 10.x announces "5.5.5-10.11.19-MariaDB…" to old replication clients.
  const v = c.serverVersion.replace(/^5\.5\.5-/, '');
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  const server = m ? { mariadb: /mariadb/i.test(v), version: Number(m[1]) * 10000 + Number(m[2]) * 100 + Number(m[3]) } : null;
  return { server, noBackslashEscapes: (c.status & SERVER_STATUS_NO_BACKSLASH_ESCAPES) !== 0 };
}
