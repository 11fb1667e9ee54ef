// Opens the connection to the real database server with the gateway's credential: SSLRequest and TLS as the resource
// says, then startup and a SCRAM login (MD5 or a clear-text password only where the resource allows them), and the
// server's parameters and backend key, which the session relays or keeps. Also sends upstream cancel requests.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { createHash } from 'node:crypto';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import type { ErrorCode } from '../../domain/errors.js';
import { describeTlsFailure, noTlsRefusal, passwordRefusal, SSL_REQUEST, type PgUpstreamSecurity } from '../../credentials/pg-upstream-security.js';
import type { UpstreamLogin } from '../types.js';
import { MessageReader } from './framing.js';
import { B, cancelRequest, passwordMessage, saslInitialResponse, saslResponse, startupMessage } from './protocol.js';
import { ScramClient, type ChannelBinding } from './scram-client.js';
import { tlsServerEndPoint } from './scram-server.js';

export { ScramClient } from './scram-client.js';

export interface UpstreamConnection {
  /** Paused after login (the TLS socket when the link is encrypted). Its bytes do not come as 'data' events: call `read`. */
  socket: Socket;
  /**
   * Where the socket's bytes go from now on. On plain TCP each chunk is a view of a read buffer that all upstream
   * connections share (no allocation per read): it is valid only during the call, so copy what you keep.
   */
  read(handler: (chunk: Buffer) => void): void;
  /** ParameterStatus and NoticeResponse messages of the login, as received, for the client. */
  greeting: Buffer[];
  /** The server's real backend key: only the gateway uses it, to cancel. */
  pid: number;
  secret: number;
  /** Transaction status from the first ReadyForQuery ('I'). */
  txStatus: number;
  /** Bytes that arrived after ReadyForQuery, to be relayed. */
  leftover: Buffer;
  /** The TLS version of the link (e.g. 'TLSv1.3'), or null on plain TCP. */
  tls: string | null;
  /** How the server let the gateway in: 'trust' when it asked for no password. */
  auth: 'SCRAM-SHA-256-PLUS' | 'SCRAM-SHA-256' | 'md5' | 'cleartext' | 'trust';
}

/** The upstream login failed; `message` is safe to show the user (credentials scrubbed). */
export class UpstreamLoginError extends Error {
  constructor(
    message: string,
    readonly sqlstate: string | undefined,
    /** Set when the gateway itself refused the server's terms (TLS or password method), not the server the login. */
    readonly airlockCode?: ErrorCode,
  ) {
    super(message);
    this.name = 'UpstreamLoginError';
  }
}

const LOGIN_MESSAGE_LIMIT = 1 << 20;

/**
 * The buffer every plain upstream socket reads into (net's `onread`): the event loop runs one read callback at a time
 * and each consumer copies what it keeps, so one buffer serves all connections, and a large result streams without a
 * fresh 64 KiB allocation per read for the garbage collector to find later. A TLS socket on top delivers its own.
 */
const SHARED_READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** What the raw-wire test clients of the gateway itself use when they give none: plain TCP, SCRAM only. */
const PLAIN_SCRAM_ONLY: PgUpstreamSecurity = { resource: 'the upstream', mode: 'disable', tls: null, allowMd5: false, allowCleartext: false };

type LoginTarget = Omit<UpstreamLogin, 'security'> & { security?: PgUpstreamSecurity };

/** Connects, negotiates TLS and logs in; resolves at the server's first ReadyForQuery. */
export function openUpstream(login: LoginTarget, params: Record<string, string>, timeoutMs = 10_000): Promise<UpstreamConnection> {
  const sec = login.security ?? PLAIN_SCRAM_ONLY;
  return new Promise((resolve, reject) => {
    let handler: (chunk: Buffer) => void = sec.tls ? onSslAnswer : onData;
    const raw = connect({
      host: login.host,
      port: login.port,
      onread: {
        buffer: SHARED_READ_BUFFER,
        callback: (n: number, buf: Uint8Array) => {
          handler((buf as Buffer).subarray(0, n));
          return true;
        },
      },
    });
    raw.setNoDelay(true);
    raw.on('error', () => {}); // errors are seen through 'close' and the listeners below; never an uncaught throw
    let socket: Socket = raw;
    let secure: TLSSocket | null = null;
    const reader = new MessageReader(LOGIN_MESSAGE_LIMIT);
    const parser = new Parser();
    const greeting: Buffer[] = [];
    const after: Buffer[] = [];
    let scram: ScramClient | null = null;
    let auth: UpstreamConnection['auth'] = 'trust';
    let pid = 0;
    let secret = 0;
    let done = false;
    let ready = -1;

    const wait = timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`;
    const timer = setTimeout(() => fail(new UpstreamLoginError(`no answer within ${wait}`, undefined)), timeoutMs);
    function fail(err: Error) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      raw.destroy();
      reject(err instanceof UpstreamLoginError ? err : new UpstreamLoginError(scrub(err.message, login), undefined));
    }
    const refuse = (code: ErrorCode, message: string) => fail(new UpstreamLoginError(scrub(message, login), undefined, code));
    function finish(txStatus: number) {
      done = true;
      clearTimeout(timer);
      handler = ignoreChunk;
      raw.off('error', fail);
      raw.off('close', onClose);
      secure?.off('error', onSecureError);
      secure?.off('close', onClose);
      // Nothing is read until the relay takes over.
      socket.pause();
      const read = (h: (chunk: Buffer) => void) => void (handler = h);
      resolve({ socket, read, greeting, pid, secret, txStatus, leftover: Buffer.concat([...after, reader.pending()]), tls: secure?.getProtocol() ?? null, auth });
    }
    function onClose() {
      fail(new UpstreamLoginError('the server closed the connection during login', undefined));
    }
    const sendStartup = () => socket.write(startupMessage({ user: login.user, database: login.database, ...params }));

    /** The one byte that answers SSLRequest: 'S' (TLS follows) or 'N'. */
    function onSslAnswer(chunk: Buffer) {
      // Bytes after the answer would be read as if they had come through TLS, yet anyone on the path could have put
      // them there (CVE-2021-23222): refuse them.
      if (chunk.length !== 1) return refuse('AIRLOCK_UPSTREAM_TLS', `the database server of resource ${sec.resource} answered the SSLRequest with ${chunk.length} bytes instead of one; the connection was refused`);
      if (chunk[0] === 0x4e) {
        const refusal = noTlsRefusal(sec);
        if (refusal) return refuse('AIRLOCK_UPSTREAM_TLS', refusal);
        handler = onData;
        return void sendStartup();
      }
      if (chunk[0] !== 0x53) return refuse('AIRLOCK_UPSTREAM_TLS', `the database server of resource ${sec.resource} answered the SSLRequest with neither "S" nor "N"; is it a PostgreSQL server?`);
      handler = ignoreChunk; // from here on the TLS socket reads the raw one
      raw.off('close', onClose);
      secure = tlsConnect({ ...sec.tls, socket: raw });
      socket = secure;
      secure.on('data', (d: Buffer) => handler(d));
      secure.on('error', onSecureError);
      secure.on('close', onClose);
      secure.once('secureConnect', () => {
        handshaken = true;
        handler = onData;
        sendStartup();
      });
    }
    let handshaken = false;
    /** Before the handshake is through, an error is the certificate or the TLS terms: say what to change. */
    function onSecureError(e: Error) {
      if (handshaken) fail(e);
      else refuse('AIRLOCK_UPSTREAM_TLS', describeTlsFailure(sec, e));
    }

    function onMessage(m: Buffer) {
      if (ready >= 0) {
        after.push(Buffer.from(m));
        return;
      }
      const type = m[0]!;
      if (type === B.ParameterStatus || type === B.NoticeResponse) greeting.push(Buffer.from(m));
      if (type === B.ReadyForQuery) {
        ready = m[5]!;
        return;
      }
      let msg: BackendMessage | undefined;
      parser.parse(m, (x) => (msg = x));
      if (!msg) throw new Error('the server sent a message the gateway could not read');
      handle(msg as BackendMessage & Record<string, unknown>);
    }

    /** Refuses a password request the resource does not allow: nothing is sent, the connection is closed. */
    function allowed(method: 'md5' | 'cleartext'): boolean {
      const refusal = passwordRefusal(sec, method, secure !== null);
      if (refusal) refuse('AIRLOCK_UPSTREAM_AUTH', refusal);
      return refusal === null;
    }

    function handle(m: BackendMessage & Record<string, unknown>) {
      switch (m.name) {
        case 'authenticationOk':
          // A server that began SCRAM must finish it with its own proof; skipping that is how an impostor would log us in.
          if (scram && !scram.verified) throw new Error('the server ended the SCRAM exchange without proving it knows the password');
          return;
        case 'parameterStatus':
        case 'notice':
          return;
        case 'backendKeyData':
          pid = m.processID as number;
          secret = m.secretKey as number;
          return;
        case 'authenticationCleartextPassword':
          if (!allowed('cleartext')) return;
          auth = 'cleartext';
          socket.write(passwordMessage(login.password));
          return;
        case 'authenticationMD5Password': {
          if (!allowed('md5')) return;
          auth = 'md5';
          const inner = md5hex(Buffer.from(login.password + login.user, 'utf8'));
          socket.write(passwordMessage('md5' + md5hex(Buffer.concat([Buffer.from(inner), m.salt as Buffer]))));
          return;
        }
        case 'authenticationSASL': {
          const offered = m.mechanisms as string[];
          if (!offered.includes('SCRAM-SHA-256')) throw new Error(`the server offers no supported SASL mechanism (${offered.join(', ')})`);
          scram = new ScramClient(login.password, channelBinding(secure, offered));
          auth = scram.mechanism;
          socket.write(saslInitialResponse(scram.mechanism, scram.first()));
          return;
        }
        case 'authenticationSASLContinue':
          if (!scram) throw new Error('unexpected SASL message from the server');
          socket.write(saslResponse(scram.final(m.data as string)));
          return;
        case 'authenticationSASLFinal':
          if (!scram) throw new Error('unexpected SASL message from the server');
          scram.verify(m.data as string);
          return;
        case 'error':
          throw new UpstreamLoginError(scrub(String((m as unknown as Error).message), login), (m as unknown as { code?: string }).code);
        default:
          throw new Error(`unexpected message "${m.name}" from the server during login`);
      }
    }

    function onData(chunk: Buffer) {
      try {
        reader.push(chunk, onMessage);
      } catch (err) {
        return fail(err as Error);
      }
      // Whatever followed ReadyForQuery in this chunk is in `after` by now, so the leftover is complete.
      if (ready >= 0 && !done) finish(ready);
    }
    raw.on('error', fail);
    raw.on('close', onClose);
    raw.once('connect', () => (sec.tls ? raw.write(SSL_REQUEST) : sendStartup()));
  });
}

/** SCRAM-SHA-256-PLUS binds the exchange to this TLS link, so a relay in the middle with its own certificate fails. */
function channelBinding(secure: TLSSocket | null, offered: string[]): ChannelBinding {
  if (!secure) return { flag: 'n' };
  const cert = secure.getPeerX509Certificate();
  const endPoint = cert ? tlsServerEndPoint(cert.raw) : null;
  if (offered.includes('SCRAM-SHA-256-PLUS') && endPoint) return { flag: 'p', endPoint };
  return { flag: offered.includes('SCRAM-SHA-256-PLUS') ? 'n' : 'y' };
}

function ignoreChunk(): void {}

/**
 * Asks the server to cancel what a backend runs; resolves once the server has taken the request (it then closes).
 * With TLS the request goes inside it too, since the backend key in it is what lets anyone cancel that backend.
 */
export function sendCancel(target: { host: string; port: number; security?: PgUpstreamSecurity }, pid: number, secret: number, timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve) => {
    const tls = target.security?.tls ?? null;
    const s = connect({ host: target.host, port: target.port });
    let out: Socket = s;
    const timer = setTimeout(() => out.destroy(), timeoutMs);
    s.on('error', () => {});
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (!tls) {
      s.once('connect', () => s.end(cancelRequest(pid, secret)));
      return void s.resume();
    }
    s.once('connect', () => s.write(SSL_REQUEST));
    s.once('data', (b: Buffer) => {
      if (b.length !== 1 || b[0] !== 0x53) {
        // The mode allows plain TCP only as `prefer` on loopback; otherwise the key is not sent in clear.
        if (b[0] === 0x4e && b.length === 1 && noTlsRefusal(target.security!) === null) return void s.end(cancelRequest(pid, secret));
        return void s.destroy();
      }
      const t = tlsConnect({ ...tls, socket: s });
      out = t;
      t.on('error', () => s.destroy());
      t.once('secureConnect', () => t.end(cancelRequest(pid, secret)));
      t.resume();
    });
  });
}

/** Keeps the upstream user and password out of anything a client or log reads. */
export function scrub(message: string, login: Pick<UpstreamLogin, 'user' | 'password'>): string {
  let out = message;
  if (login.password) out = out.split(login.password).join('***');
  if (login.user) out = out.split(login.user).join('<upstream user>');
  return out;
}

function md5hex(b: Buffer): string {
  return createHash('md5').update(b).digest('hex');
}
