// MySQL wire basics: packet framing (3-byte length, sequence id, 16 MiB continuation), length-encoded values, and
// the OK/ERR/EOF packets the gateway writes itself.

/** A payload of exactly this many bytes is continued by the next packet (a shorter one ends it). */
export const MAX_PACKET_PAYLOAD = 0xffffff;

export const CAP = {
  LONG_PASSWORD: 1,
  FOUND_ROWS: 2,
  LONG_FLAG: 4,
  CONNECT_WITH_DB: 8,
  NO_SCHEMA: 16,
  COMPRESS: 32,
  ODBC: 64,
  LOCAL_FILES: 128,
  IGNORE_SPACE: 256,
  PROTOCOL_41: 512,
  INTERACTIVE: 1024,
  SSL: 2048,
  TRANSACTIONS: 8192,
  SECURE_CONNECTION: 32768,
  MULTI_STATEMENTS: 1 << 16,
  MULTI_RESULTS: 1 << 17,
  PS_MULTI_RESULTS: 1 << 18,
  PLUGIN_AUTH: 1 << 19,
  CONNECT_ATTRS: 1 << 20,
  PLUGIN_AUTH_LENENC_DATA: 1 << 21,
  SESSION_TRACK: 1 << 23,
  DEPRECATE_EOF: 1 << 24,
} as const;

export const COM = {
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  STATISTICS: 0x09,
  PROCESS_KILL: 0x0c,
  PING: 0x0e,
  CHANGE_USER: 0x11,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  STMT_FETCH: 0x1c,
  RESET_CONNECTION: 0x1f,
} as const;

export const STATUS = {
  IN_TRANS: 0x0001,
  AUTOCOMMIT: 0x0002,
  MORE_RESULTS_EXISTS: 0x0008,
  CURSOR_EXISTS: 0x0040,
} as const;

/** Malformed or out-of-place bytes from a client: the session ends, with `userText` in the ERR the client reads. */
export class ProtocolError extends Error {
  constructor(readonly userText: string) {
    super(userText);
    this.name = 'ProtocolError';
  }
}

export interface Packet {
  /** The sequence id of its first wire packet. */
  seq: number;
  /** The whole logical payload: continuation packets joined. */
  payload: Buffer;
  /** Packets on the wire it took (1 unless continued). */
  parts: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * Frames a byte stream into logical packets (continuations joined). `maxPayload` is checked before a packet is
 * buffered, so a client cannot make the gateway hold more than that.
 */
export class PacketReader {
  private buf: Buffer = EMPTY;
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private partCount = 0;
  private firstSeq = 0;

  /**
   * Checks a logical packet's start as soon as its header and first byte are in (a client's command id and sequence
   * id), so a stream that is not commands ends at once instead of after megabytes; returns why not, or null.
   */
  checkStart: ((seq: number, first: number) => string | null) | null = null;

  constructor(public maxPayload: number) {}

  /** Feeds bytes; calls `onPacket` for each complete logical packet. Throws ProtocolError past the size limit. */
  push(chunk: Buffer, onPacket: (p: Packet) => void): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let off = 0;
    while (this.buf.length - off >= 4) {
      const len = this.buf.readUIntLE(off, 3);
      const seq = this.buf[off + 3]!;
      if (this.partsBytes + len > this.maxPayload) throw new ProtocolError(`a packet of more than ${this.maxPayload} bytes was sent; the limit is ${this.maxPayload}`);
      if (this.checkStart && this.partCount === 0 && len > 0 && this.buf.length - off > 4) {
        const why = this.checkStart(seq, this.buf[off + 4]!);
        if (why) throw new ProtocolError(why);
      }
      if (this.buf.length - off < 4 + len) break;
      // Copied out so that a small packet does not pin a large read buffer.
      const body = Buffer.from(this.buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
      if (this.partCount === 0) this.firstSeq = seq;
      this.partCount++;
      if (len === MAX_PACKET_PAYLOAD) {
        this.parts.push(body);
        this.partsBytes += len;
        continue;
      }
      const payload = this.parts.length ? Buffer.concat([...this.parts, body]) : body;
      const parts = this.partCount;
      this.parts = [];
      this.partsBytes = 0;
      this.partCount = 0;
      onPacket({ seq: this.firstSeq, payload, parts });
    }
    this.buf = off === this.buf.length ? EMPTY : this.buf.subarray(off);
  }

  /** Bytes received but not yet a complete packet. */
  get buffered(): number {
    return this.buf.length + this.partsBytes;
  }
}

/** Wire bytes for a logical payload starting at sequence `seq`, split into 16 MiB parts (an exact multiple ends with an empty part). */
export function framePacket(payload: Buffer, seq: number): Buffer {
  if (payload.length < MAX_PACKET_PAYLOAD) {
    const out = Buffer.allocUnsafe(4 + payload.length);
    out.writeUIntLE(payload.length, 0, 3);
    out[3] = seq & 0xff;
    payload.copy(out, 4);
    return out;
  }
  const chunks: Buffer[] = [];
  let off = 0;
  for (;;) {
    const n = Math.min(MAX_PACKET_PAYLOAD, payload.length - off);
    const h = Buffer.allocUnsafe(4);
    h.writeUIntLE(n, 0, 3);
    h[3] = seq++ & 0xff;
    chunks.push(h, payload.subarray(off, off + n));
    off += n;
    if (n < MAX_PACKET_PAYLOAD) break;
  }
  return Buffer.concat(chunks);
}

/** How many wire packets framePacket makes for a payload of `n` bytes. */
export function partsFor(n: number): number {
  return Math.floor(n / MAX_PACKET_PAYLOAD) + 1;
}

export function lenencInt(n: number): Buffer {
  if (n < 251) return Buffer.from([n]);
  if (n < 0x10000) return Buffer.from([0xfc, n & 0xff, n >> 8]);
  if (n < 0x1000000) return Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]);
  const b = Buffer.alloc(9);
  b[0] = 0xfe;
  b.writeBigUInt64LE(BigInt(n), 1);
  return b;
}

/** Reads a length-encoded integer at `off`; null for the NULL marker (0xfb). Throws ProtocolError past `buf`. */
export function readLenenc(buf: Buffer, off: number): { value: number; next: number } {
  const first = buf[off];
  if (first === undefined) throw new ProtocolError('a packet ended inside a length-encoded integer');
  const need = (n: number) => {
    if (off + 1 + n > buf.length) throw new ProtocolError('a packet ended inside a length-encoded integer');
  };
  if (first < 0xfb) return { value: first, next: off + 1 };
  if (first === 0xfc) return need(2), { value: buf.readUInt16LE(off + 1), next: off + 3 };
  if (first === 0xfd) return need(3), { value: buf.readUIntLE(off + 1, 3), next: off + 4 };
  if (first === 0xfe) return need(8), { value: Number(buf.readBigUInt64LE(off + 1)), next: off + 9 };
  throw new ProtocolError('a length-encoded integer with an invalid first byte');
}

/** A NUL-terminated string starting at `off`, bounded by the packet end. */
export function readCString(buf: Buffer, off: number): { value: Buffer; next: number } {
  const end = buf.indexOf(0, off);
  if (end < 0) throw new ProtocolError('a packet ended inside a string');
  return { value: buf.subarray(off, end), next: end + 1 };
}

export function okPayload(status: number, info = ''): Buffer {
  const i = Buffer.from(info, 'utf8');
  const b = Buffer.alloc(7);
  b[0] = 0;
  b[1] = 0; // affected rows
  b[2] = 0; // last insert id
  b.writeUInt16LE(status, 3);
  b.writeUInt16LE(0, 5); // warnings
  return i.length ? Buffer.concat([b, i]) : b;
}

/** ERR payload with a SQLSTATE (5 characters); the message is cut to what clients show comfortably. */
export function errPayload(code: number, sqlstate: string, message: string): Buffer {
  const msg = Buffer.from(message.length > 4000 ? `${message.slice(0, 3990)}…` : message, 'utf8');
  const head = Buffer.alloc(9);
  head[0] = 0xff;
  head.writeUInt16LE(code, 1);
  head.write('#', 3, 'latin1');
  head.write(sqlstate.padEnd(5, '0').slice(0, 5), 4, 'latin1');
  return Buffer.concat([head, msg]);
}

/** The status flags of an OK (0x00 or 0xfe header) or EOF packet. */
export function statusOf(payload: Buffer): number {
  if (payload[0] === 0xfe && payload.length < 9) return payload.length >= 5 ? payload.readUInt16LE(3) : 0;
  let off = readLenenc(payload, 1).next;
  off = readLenenc(payload, off).next;
  return off + 2 <= payload.length ? payload.readUInt16LE(off) : 0;
}
