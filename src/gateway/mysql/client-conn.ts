// The client's side of a MySQL connection during login: packets one at a time with their sequence ids, and the
// upgrade to TLS after an SSL request.
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { PacketReader, ProtocolError, framePacket, type Packet } from './packets.js';
import { LoginSocket } from '../core/login-socket.js';

export { ClientGone } from '../core/login-socket.js';

export class ClientConn extends LoginSocket {
  /** The sequence id the next packet the gateway writes carries. */
  seq = 0;
  readonly reader: PacketReader;
  private queue: Packet[] = [];
  /** Bytes before framing starts: after an SSL request the client's TLS hello follows at once, unframed. */
  private raw: Buffer = Buffer.alloc(0);
  private framing = false;

  constructor(socket: Socket, maxLoginPacket: number) {
    super(socket);
    this.reader = new PacketReader(maxLoginPacket);
  }

  /** The first packet (the handshake response or an SSL request), read without framing what follows it. */
  async firstPacket(): Promise<Packet> {
    for (;;) {
      if (this.raw.length >= 4) {
        const len = this.raw.readUIntLE(0, 3);
        if (len > this.reader.maxPayload) throw new ProtocolError('the first packet is not a MySQL handshake response');
        if (this.raw.length >= 4 + len) {
          const payload = Buffer.from(this.raw.subarray(4, 4 + len));
          const seq = this.raw[3]!;
          this.raw = this.raw.subarray(4 + len);
          this.seq = (seq + 1) & 0xff;
          return { seq, payload, parts: 1 };
        }
      }
      await this.more();
    }
  }

  /** From now on packets are framed (after the first packet, or after the TLS handshake). */
  beginFraming(): void {
    this.framing = true;
    const rest = this.raw;
    this.raw = Buffer.alloc(0);
    if (rest.length) this.onData(rest);
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

  upgrade(context: SecureContext): Promise<void> {
    // The TLS client hello may have come in the same read as the SSL request: TLS reads it first.
    const unread = this.raw;
    this.raw = Buffer.alloc(0);
    return this.startTls(context, { unread });
  }

  /** Hands the socket to the relay with the packets already framed (a pipelining client may have sent some). */
  release(): { socket: Socket; reader: PacketReader; queued: Packet[] } {
    this.detach(this.socket);
    const queued = this.queue;
    this.queue = [];
    return { socket: this.socket, reader: this.reader, queued };
  }

  protected onData(chunk: Buffer): void {
    if (!this.framing) {
      this.raw = this.raw.length ? Buffer.concat([this.raw, chunk]) : chunk;
      if (this.raw.length > 2 * this.reader.maxPayload) this.failure = new ProtocolError('too many bytes before the handshake response');
      return this.signal();
    }
    try {
      this.reader.push(chunk, (p) => this.queue.push(p));
    } catch (err) {
      this.failure = err as Error;
    }
    this.signal();
  }
}
