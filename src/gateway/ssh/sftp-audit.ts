// Reads the SFTP packets relayed through an allowed sftp subsystem (both directions, bytes passed on untouched) to
// audit each file once, when its handle is closed: path, direction (upload/download) and bytes moved; and each
// remove, rename and mkdir. Only packet heads are kept (a WRITE's or DATA's payload is counted and skipped), so the
// audit costs no copy of the file.
//
// Wire facts (draft-ietf-secsh-filexfer-02, what OpenSSH speaks): every packet is uint32 length (of what follows),
// byte type, then for requests uint32 request-id; strings are uint32 length + bytes.

const FXP = {
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  REMOVE: 13,
  MKDIR: 14,
  RENAME: 18,
  HANDLE: 102,
  DATA: 103,
} as const;

/** pflags of OPEN: SSH_FXF_WRITE. */
const FXF_WRITE = 0x02;

/** Bytes of a packet kept for parsing: more than any request head (paths are at most a few KiB). */
const HEAD_BYTES = 8192;

/** What the audit hears: one line per file or change, e.g. "sftp download /etc/hosts (220 bytes)". */
export interface SftpEvent {
  op: 'upload' | 'download' | 'remove' | 'rename' | 'mkdir';
  path: string;
  /** rename: the new name. */
  to?: string;
  bytes?: number;
}

export function describeSftp(e: SftpEvent): string {
  if (e.op === 'upload' || e.op === 'download') return `sftp ${e.op} ${e.path} (${e.bytes ?? 0} bytes)`;
  if (e.op === 'rename') return `sftp rename ${e.path} ${e.to ?? ''}`;
  return `sftp ${e.op} ${e.path}`;
}

interface OpenFile {
  path: string;
  write: boolean;
  read: number;
  written: number;
}

/** One direction's packet splitter: calls `onHead(head, total)` with up to HEAD_BYTES of each packet. */
class PacketHeads {
  private head = Buffer.alloc(0);
  private want = 4; // bytes still needed for the length, then for the head
  private skip = 0; // payload bytes of the current packet not kept
  private total = -1; // the current packet's length, once read

  constructor(private readonly onHead: (head: Buffer, total: number) => void) {}

  push(chunk: Buffer): void {
    let p = 0;
    while (p < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - p);
        this.skip -= n;
        p += n;
        continue;
      }
      const n = Math.min(this.want, chunk.length - p);
      this.head = this.head.length === 0 ? Buffer.from(chunk.subarray(p, p + n)) : Buffer.concat([this.head, chunk.subarray(p, p + n)]);
      this.want -= n;
      p += n;
      if (this.want > 0) continue;
      if (this.total < 0) {
        this.total = this.head.readUInt32BE(0);
        this.head = Buffer.alloc(0);
        this.want = Math.min(this.total, HEAD_BYTES);
        this.skip = 0;
        if (this.want > 0) continue;
      }
      const total = this.total;
      const head = this.head;
      this.skip = total - head.length;
      this.total = -1;
      this.head = Buffer.alloc(0);
      this.want = 4;
      this.onHead(head, total);
    }
  }
}

function str(b: Buffer, at: number): { s: Buffer; next: number } | null {
  if (at + 4 > b.length) return null;
  const n = b.readUInt32BE(at);
  if (at + 4 + n > b.length) return null;
  return { s: b.subarray(at + 4, at + 4 + n), next: at + 4 + n };
}

/** An SFTP audit for one channel: feed it each direction's bytes; it calls `onEvent` as files close. */
export function makeSftpAudit(onEvent: (e: SftpEvent) => void) {
  const opening = new Map<number, { path: string; write: boolean }>(); // request id → OPEN waiting for its HANDLE
  const reading = new Map<number, string>(); // request id → handle of a READ waiting for its DATA
  const files = new Map<string, OpenFile>(); // handle (binary, as latin1) → the open file

  const fromClient = new PacketHeads((h, total) => {
    if (h.length < 5) return;
    const type = h[0]!;
    const id = h.readUInt32BE(1);
    const a = str(h, 5);
    if (!a) return;
    switch (type) {
      case FXP.OPEN:
        if (a.next + 4 <= h.length) opening.set(id, { path: a.s.toString('utf8'), write: (h.readUInt32BE(a.next) & FXF_WRITE) !== 0 });
        break;
      case FXP.READ:
        reading.set(id, a.s.toString('latin1'));
        break;
      case FXP.WRITE: {
        const f = files.get(a.s.toString('latin1'));
        // handle, uint64 offset, then the data string: its length is what is left of the packet after its own header.
        if (f) f.written += Math.max(0, total - (a.next + 8 + 4));
        break;
      }
      case FXP.CLOSE: {
        const handle = a.s.toString('latin1');
        const f = files.get(handle);
        if (!f) break;
        files.delete(handle);
        const upload = f.written > 0 || (f.write && f.read === 0);
        onEvent({ op: upload ? 'upload' : 'download', path: f.path, bytes: upload ? f.written : f.read });
        break;
      }
      case FXP.REMOVE:
        onEvent({ op: 'remove', path: a.s.toString('utf8') });
        break;
      case FXP.MKDIR:
        onEvent({ op: 'mkdir', path: a.s.toString('utf8') });
        break;
      case FXP.RENAME: {
        const b = str(h, a.next);
        onEvent({ op: 'rename', path: a.s.toString('utf8'), to: b ? b.s.toString('utf8') : '' });
        break;
      }
    }
  });

  const fromServer = new PacketHeads((h, total) => {
    if (h.length < 5) return;
    const type = h[0]!;
    const id = h.readUInt32BE(1);
    if (type === FXP.HANDLE) {
      const o = opening.get(id);
      opening.delete(id);
      const a = str(h, 5);
      if (o && a) files.set(a.s.toString('latin1'), { path: o.path, write: o.write, read: 0, written: 0 });
    } else if (type === FXP.DATA) {
      const handle = reading.get(id);
      reading.delete(id);
      const f = handle === undefined ? undefined : files.get(handle);
      if (f) f.read += Math.max(0, total - 9); // type, id and the string's length: the rest is data
    } else {
      // STATUS (an error, or EOF) and other replies end the request either way.
      opening.delete(id);
      reading.delete(id);
    }
  });

  return {
    client: (chunk: Buffer) => fromClient.push(chunk),
    server: (chunk: Buffer) => fromServer.push(chunk),
    /** The channel closed: files still open are audited as they stand. */
    end() {
      for (const f of files.values()) {
        const upload = f.written > 0 || (f.write && f.read === 0);
        onEvent({ op: upload ? 'upload' : 'download', path: f.path, bytes: upload ? f.written : f.read });
      }
      files.clear();
    },
  };
}
