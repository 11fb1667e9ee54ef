// What every front-end's client side does during login, whatever its framing: wait for the client's next bytes (or
// its going away), switch the socket to TLS in place, and hand the socket on to the relay.
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';

/** The client went away; nothing to tell it. */
export class ClientGone extends Error {
  constructor() {
    super('the client closed the connection');
    this.name = 'ClientGone';
  }
}

function ignore(): void {}

/** A subclass frames what `onData` receives and calls `more()` to wait for the next bytes. */
export abstract class LoginSocket {
  socket: Socket;
  /** Set when the client left or sent what cannot be read; the next `more()` rejects with it. */
  protected failure: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(socket: Socket) {
    this.socket = socket;
    // A socket error with no listener would throw in the process; every socket here keeps a quiet one for good.
    socket.on('error', ignore);
    this.attach(socket);
  }

  get encrypted(): boolean {
    return this.socket instanceof TLSSocket;
  }

  /** The client's bytes, as they arrive; ends by calling `signal()`. */
  protected abstract onData(chunk: Buffer): void;

  /** Resolves when bytes or a failure arrived since. */
  protected more(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.wake = () => (this.failure ? reject(this.failure) : resolve());
    });
  }

  protected signal(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Hands the socket to TLS; resolves once the handshake is done. `unread`: bytes already read that belong to it. */
  protected async startTls(context: SecureContext, opts: { alpn?: string[]; unread?: Buffer } = {}): Promise<void> {
    this.detach(this.socket);
    if (opts.unread?.length) this.socket.unshift(opts.unread);
    const secure = new TLSSocket(this.socket, { isServer: true, secureContext: context, ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}) });
    secure.on('error', ignore);
    let failed: (err: Error) => void = ignore;
    await new Promise<void>((resolve, reject) => {
      failed = reject;
      secure.once('secure', resolve);
      secure.once('error', failed);
      secure.once('close', () => reject(new ClientGone()));
    });
    secure.removeAllListeners('secure');
    secure.removeAllListeners('close');
    secure.off('error', failed);
    this.socket = secure;
    this.attach(secure);
  }

  /** Stops listening: the socket, paused, goes to the relay. */
  protected detach(s: Socket): void {
    s.off('data', this.dataListener);
    s.off('close', this.onClose);
    s.off('error', this.onClose);
    s.pause();
  }

  // An arrow to a method: subclasses' onData is on their prototype, there before their own fields are.
  private readonly dataListener = (chunk: Buffer): void => this.onData(chunk);

  private readonly onClose = (): void => {
    this.failure ??= new ClientGone();
    this.signal();
  };

  private attach(s: Socket): void {
    s.on('data', this.dataListener);
    s.on('close', this.onClose);
    s.on('error', this.onClose);
  }
}
