// The client's side of a connection before the relay starts: reads startup packets and typed messages one at a
// time for the login conversation, and upgrades the socket to TLS in place.
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { MAX_STARTUP_PACKET, MessageReader } from './framing.js';
import { ProtocolError } from './protocol.js';
import { LoginSocket } from '../core/login-socket.js';

export { ClientGone } from '../core/login-socket.js';

const EMPTY = Buffer.alloc(0);

export class ClientChannel extends LoginSocket {
  private raw: Buffer = EMPTY;
  private reader: MessageReader | null = null;
  private queue: Buffer[] = [];

  /** The next untyped startup packet (length-prefixed), checked against PostgreSQL's own size limit. */
  async startupPacket(): Promise<Buffer> {
    for (;;) {
      if (this.raw.length >= 4) {
        const len = this.raw.readInt32BE(0);
        if (len < 8 || len > MAX_STARTUP_PACKET) throw new ProtocolError('invalid startup packet: the first bytes are not a PostgreSQL startup message');
        if (this.raw.length >= len) {
          const pkt = this.raw.subarray(0, len);
          this.raw = this.raw.subarray(len);
          return pkt;
        }
      }
      await this.more();
    }
  }

  /** True when the client sent bytes past the packet just read — not allowed right before a TLS handshake. */
  get hasBuffered(): boolean {
    return this.raw.length > 0 || this.queue.length > 0;
  }

  /** From now on the stream is typed messages of at most `max` body bytes. */
  beginTyped(max: number): void {
    this.reader = new MessageReader(max);
    const rest = this.raw;
    this.raw = EMPTY;
    if (rest.length) this.reader.push(rest, (m) => this.queue.push(m));
  }

  /** The next typed message (type byte and length included). */
  async message(): Promise<Buffer> {
    for (;;) {
      const m = this.queue.shift();
      if (m) return m;
      await this.more();
    }
  }

  /** Hands the socket to TLS; resolves once the handshake is done. Plaintext bytes must not have been buffered. */
  upgrade(context: SecureContext): Promise<void> {
    // ALPN "postgresql" as PostgreSQL 17 announces it; clients that send no ALPN are fine too.
    return this.startTls(context, { alpn: ['postgresql'] });
  }

  /** Gives the socket to the relay, with the reader and whatever messages it already framed. */
  release(): { socket: Socket; reader: MessageReader; queued: Buffer[] } {
    this.detach(this.socket);
    const queued = this.queue;
    this.queue = [];
    return { socket: this.socket, reader: this.reader ?? new MessageReader(0), queued };
  }

  protected onData(chunk: Buffer): void {
    if (this.reader) {
      try {
        this.reader.push(chunk, (m) => this.queue.push(m));
      } catch (err) {
        this.failure = err as Error;
      }
    } else {
      this.raw = this.raw.length ? Buffer.concat([this.raw, chunk]) : chunk;
      if (this.raw.length > 2 * MAX_STARTUP_PACKET) this.failure = new ProtocolError('too many bytes before the startup message');
    }
    this.signal();
  }
}
