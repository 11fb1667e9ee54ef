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

/**
 * Bytes received in chunks, held as the chunks until enough are in: each byte is copied once when taken, however
 * small the chunks (joining the whole buffer on every chunk costs quadratic time for a large packet).
 */
export class ChunkQueue {
  private chunks: Buffer[] = [];
  private head = 0;
  /** Bytes held. */
  length = 0;
  /** Bytes copied out so far (a large packet in many small chunks still costs its size once). */
  copied = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The byte at `i` (i < length). */
  byteAt(i: number): number {
    let at = i + this.head;
    for (const c of this.chunks) {
      if (at < c.length) return c[at]!;
      at -= c.length;
    }
    throw new RangeError('past the queued bytes');
  }

  /** A 3-byte little-endian length at the front. */
  lengthAt0(): number {
    return this.byteAt(0) | (this.byteAt(1) << 8) | (this.byteAt(2) << 16);
  }

  /** Removes the first `n` bytes (n <= length) as a buffer of their own (a copy: it pins no larger read buffer). */
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const k = Math.min(n - filled, c.length - this.head);
      c.copy(out, filled, this.head, this.head + k);
      filled += k;
      this.head += k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.length -= n;
    this.copied += n;
    return out;
  }

  /** Drops the first `n` bytes (n <= length). */
  skip(n: number): void {
    let left = n;
    while (left > 0) {
      const c = this.chunks[0]!;
      const k = Math.min(left, c.length - this.head);
      left -= k;
      this.head += k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.length -= n;
  }
}

/**
 * Frames a byte stream into logical packets (continuations joined). `maxPayload` is checked before a packet is
 * buffered, so a client cannot make the gateway hold more than that. Linear in the bytes, however they are chunked.
 */
export class PacketReader {
  private readonly pending = new ChunkQueue();
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private partCount = 0;
  private firstSeq = 0;
  private joined = 0;

  /**
   * Checks a logical packet's start as soon as its header and first byte are in (a client's command id and sequence
   * id), so a stream that is not commands ends at once instead of after megabytes; returns why not, or null.
   */
  checkStart: ((seq: number, first: number) => string | null) | null = null;

  constructor(public maxPayload: number) {}

  /** Feeds bytes; calls `onPacket` for each complete logical packet. Throws ProtocolError past the size limit. */
  push(chunk: Buffer, onPacket: (p: Packet) => void): void {
    const q = this.pending;
    q.push(chunk);
    while (q.length >= 4) {
      const len = q.lengthAt0();
      const seq = q.byteAt(3);
      if (this.partsBytes + len > this.maxPayload) throw new ProtocolError(`a packet of more than ${this.maxPayload} bytes was sent; the limit is ${this.maxPayload}`);
      if (this.checkStart && this.partCount === 0 && len > 0 && q.length > 4) {
        const why = this.checkStart(seq, q.byteAt(4));
        if (why) throw new ProtocolError(why);
      }
      if (q.length < 4 + len) break;
      q.skip(4);
      const body = q.take(len);
      if (this.partCount === 0) this.firstSeq = seq;
      this.partCount++;
      if (len === MAX_PACKET_PAYLOAD) {
        this.parts.push(body);
        this.partsBytes += len;
        continue;
      }
      let payload = body;
      if (this.parts.length) {
        payload = Buffer.concat([...this.parts, body]);
        this.joined += payload.length;
      }
      const parts = this.partCount;
      this.parts = [];
      this.partsBytes = 0;
      this.partCount = 0;
      onPacket({ seq: this.firstSeq, payload, parts });
    }
  }

  /** Bytes received but not yet a complete packet. */
  get buffered(): number {
    return this.pending.length + this.partsBytes;
  }

  /** Bytes copied while framing (each received byte once, continued packets' payloads once more when joined). */
  get copiedBytes(): number {
    return this.pending.copied + this.joined;
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
