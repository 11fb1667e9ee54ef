// Opens the connection to the real database server with the gateway's credential: startup, password/MD5/SCRAM login,
// and the server's parameters and backend key, which the session relays or keeps. Also sends upstream cancel requests.
import { connect, type Socket } from 'node:net';
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import type { UpstreamLogin } from '../types.js';
import { MessageReader } from './framing.js';
import { B, cancelRequest, passwordMessage, saslInitialResponse, saslResponse, startupMessage } from './protocol.js';

export interface UpstreamConnection {
  /** Paused after login. Its bytes do not come as 'data' events: call `read` (see there). */
  socket: Socket;
  /**
   * Where the socket's bytes go from now on. Each chunk is a view of a read buffer that all upstream connections
   * share (no allocation per read): it is valid only during the call, so copy what you keep.
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
}

/** The upstream login failed; `message` is safe to show the user (credentials scrubbed). */
export class UpstreamLoginError extends Error {
  constructor(
    message: string,
    readonly sqlstate: string | undefined,
  ) {
    super(message);
    this.name = 'UpstreamLoginError';
  }
}

const LOGIN_MESSAGE_LIMIT = 1 << 20;

/**
 * The buffer every upstream socket reads into (net's `onread`): the event loop runs one read callback at a time and
 * each consumer copies what it keeps, so one buffer serves all connections, and a large result streams without a
 * fresh 64 KiB allocation per read for the garbage collector to find later.
 */
const SHARED_READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Connects and logs in; resolves at the server's first ReadyForQuery. */
export function openUpstream(login: UpstreamLogin, params: Record<string, string>, timeoutMs = 10_000): Promise<UpstreamConnection> {
  return new Promise((resolve, reject) => {
    let handler: (chunk: Buffer) => void = onData;
    const socket = connect({
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
    socket.setNoDelay(true);
    socket.on('error', () => {}); // errors are seen through 'close' and the listeners below; never an uncaught throw
    const reader = new MessageReader(LOGIN_MESSAGE_LIMIT);
    const parser = new Parser();
    const greeting: Buffer[] = [];
    const after: Buffer[] = [];
    let scram: ScramClient | null = null;
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
      reject(err instanceof UpstreamLoginError ? err : new UpstreamLoginError(scrub(err.message, login), undefined));
    }
    function finish(txStatus: number) {
      done = true;
      clearTimeout(timer);
      handler = ignoreChunk;
      socket.off('error', fail);
      socket.off('close', onClose);
      // Nothing is read until the relay takes over.
      socket.pause();
      const read = (h: (chunk: Buffer) => void) => void (handler = h);
      resolve({ socket, read, greeting, pid, secret, txStatus, leftover: Buffer.concat([...after, reader.pending()]) });
    }
    function onClose() {
      fail(new UpstreamLoginError('the server closed the connection during login', undefined));
    }

    function onMessage(raw: Buffer) {
      if (ready >= 0) {
        after.push(Buffer.from(raw));
        return;
      }
      const type = raw[0]!;
      if (type === B.ParameterStatus || type === B.NoticeResponse) greeting.push(Buffer.from(raw));
      if (type === B.ReadyForQuery) {
        ready = raw[5]!;
        return;
      }
      let msg: BackendMessage | undefined;
      parser.parse(raw, (m) => (msg = m));
      if (!msg) throw new Error('the server sent a message the gateway could not read');
      handle(msg as BackendMessage & Record<string, unknown>);
    }

    function handle(m: BackendMessage & Record<string, unknown>) {
      switch (m.name) {
        case 'authenticationOk':
        case 'parameterStatus':
        case 'notice':
          return;
        case 'backendKeyData':
          pid = m.processID as number;
          secret = m.secretKey as number;
          return;
        case 'authenticationCleartextPassword':
          socket.write(passwordMessage(login.password));
          return;
        case 'authenticationMD5Password': {
          const inner = md5hex(Buffer.from(login.password + login.user, 'utf8'));
          socket.write(passwordMessage('md5' + md5hex(Buffer.concat([Buffer.from(inner), m.salt as Buffer]))));
          return;
        }
        case 'authenticationSASL': {
          if (!(m.mechanisms as string[]).includes('SCRAM-SHA-256')) throw new Error(`the server offers no supported SASL mechanism (${(m.mechanisms as string[]).join(', ')})`);
          scram = new ScramClient(login.password);
          socket.write(saslInitialResponse('SCRAM-SHA-256', scram.first()));
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
    socket.on('error', fail);
    socket.on('close', onClose);
    socket.once('connect', () => socket.write(startupMessage({ user: login.user, database: login.database, ...params })));
  });
}

function ignoreChunk(): void {}

/** Asks the server to cancel what a backend runs; resolves once the server has taken the request (it then closes). */
export function sendCancel(host: string, port: number, pid: number, secret: number, timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => s.destroy(), timeoutMs);
    s.once('connect', () => s.end(cancelRequest(pid, secret)));
    s.on('error', () => {});
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    s.resume();
  });
}

/** Keeps the upstream user and password out of anything a client or log reads. */
function scrub(message: string, login: UpstreamLogin): string {
  let out = message;
  if (login.password) out = out.split(login.password).join('***');
  if (login.user) out = out.split(login.user).join('<upstream user>');
  return out;
}

function md5hex(b: Buffer): string {
  return createHash('md5').update(b).digest('hex');
}

/** The client side of SCRAM-SHA-256 without channel binding (the upstream connection is plain TCP). */
export class ScramClient {
  private readonly nonce = randomBytes(18).toString('base64');
  private bare = '';
  private serverSignature: Buffer | null = null;

  constructor(private readonly password: string) {}

  first(): string {
    // PostgreSQL ignores the SCRAM user name (it uses the startup packet's), so it is sent empty.
    this.bare = `n=,r=${this.nonce}`;
    return `n,,${this.bare}`;
  }

  final(serverFirst: string): string {
    const attrs = Object.fromEntries(serverFirst.split(',').map((a) => [a.slice(0, 1), a.slice(2)]));
    const nonce = attrs.r ?? '';
    const salt = Buffer.from(attrs.s ?? '', 'base64');
    const iterations = Number(attrs.i);
    if (!nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) throw new Error('SCRAM: the server nonce is invalid');
    if (!Number.isInteger(iterations) || iterations < 1 || salt.length === 0) throw new Error('SCRAM: the server sent an invalid salt or iteration count');
    const salted = pbkdf2Sync(saslPrep(this.password), salt, iterations, 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.bare},${serverFirst},${withoutProof}`;
    const signature = createHmac('sha256', storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
    const serverKey = createHmac('sha256', salted).update('Server Key').digest();
    this.serverSignature = createHmac('sha256', serverKey).update(authMessage).digest();
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** The server proves it knows the password too: a server that does not is not the database we meant. */
  verify(serverFinal: string): void {
    if (!serverFinal.startsWith('v=') || !this.serverSignature) throw new Error('SCRAM: the server final message is invalid');
    const got = Buffer.from(serverFinal.slice(2), 'base64');
    if (got.length !== 32 || !timingSafeEqual(got, this.serverSignature)) throw new Error('SCRAM: the server signature does not match');
  }
}

/** SASLprep is the identity on printable ASCII; other passwords get its normalization step (NFKC). */
function saslPrep(password: string): string {
  return /^[\x20-\x7e]*$/.test(password) ? password : password.normalize('NFKC');
}
