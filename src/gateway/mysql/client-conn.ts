// The client's side of a MySQL connection during login: packets one at a time with their sequence ids, and the
// upgrade to TLS after an SSL request.
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { PacketReader, framePacket, type Packet } from './packets.js';

/** The client went away; nothing to tell it. */
export class ClientGone extends Error {
  constructor() {
    super('the client closed the connection');
    this.name = 'ClientGone';
  }
}

function ignore(): void {}

export class ClientConn {
  socket: Socket;
  /** The sequence id the next packet the gateway writes carries. */
  seq = 0;
  readonly reader: PacketReader;
  private queue: Packet[] = [];
  private wake: (() => void) | null = null;
  private failure: Error | null = null;

  constructor(socket: Socket, maxLoginPacket: number) {
    this.socket = socket;
    this.reader = new PacketReader(maxLoginPacket);
    socket.on('error', ignore);
    this.attach(socket);
  }

  get encrypted(): boolean {
    return this.socket instanceof TLSSocket;
  }

  get hasBuffered(): boolean {
    return this.queue.length > 0 || this.reader.buffered > 0;
  }

  /** Writes one logical packet with the next sequence id. */
  send(payload: Buffer): void {
    const wire = framePacket(payload, this.seq);
    this.seq = (this.seq + Math.floor(payload.length / 0xffffff) + 1) & 0xff;
    this.socket.write(wire);
  }

  /** The next packet; its sequence id sets the one the gateway answers with. */
  async packet(): Promise<Packet> {
    for (;;) {
      const p = this.queue.shift();
      if (p) {
        this.seq = (p.seq + p.parts) & 0xff;
        return p;
      }
      await this.more();
    }
  }

  async upgrade(context: SecureContext): Promise<void> {
    this.detach(this.socket);
    const secure = new TLSSocket(this.socket, { isServer: true, secureContext: context });
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

  /** Hands the socket to the relay with the packets already framed (a pipelining client may have sent some). */
  release(): { socket: Socket; reader: PacketReader; queued: Packet[] } {
    this.detach(this.socket);
    const queued = this.queue;
    this.queue = [];
    return { socket: this.socket, reader: this.reader, queued };
  }

  private readonly onData = (chunk: Buffer) => {
    try {
      this.reader.push(chunk, (p) => this.queue.push(p));
    } catch (err) {
      this.failure = err as Error;
    }
    this.signal();
  };

  private readonly onClose = () => {
    this.failure ??= new ClientGone();
    this.signal();
  };

  private signal(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private more(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.wake = () => (this.failure ? reject(this.failure) : resolve());
    });
  }

  private attach(s: Socket): void {
    s.on('data', this.onData);
    s.on('close', this.onClose);
    s.on('error', this.onClose);
  }

  private detach(s: Socket): void {
    s.off('data', this.onData);
    s.off('close', this.onClose);
    s.off('error', this.onClose);
    s.pause();
  }
}
