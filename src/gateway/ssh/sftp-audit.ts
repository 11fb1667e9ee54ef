// Reads the SFTP packets relayed through an allowed sftp subsystem (both directions, bytes passed on untouched) to
// audit each file once, when its handle is closed: path, direction (upload/download) and bytes moved; and each
// remove, rename, mkdir, rmdir, symlink and hard link (OpenSSH's sftp renames with the posix-rename@openssh.com
// extension and links with hardlink@openssh.com: those are read too). Only packet heads are kept (a WRITE's or DATA's payload is counted and skipped), so the
// audit costs no copy of the file.
//
// Wire facts (draft-ietf-secsh-filexfer-02, what OpenSSH speaks): every packet is uint32 length (of what follows),
// byte type, then for requests uint32 request-id; strings are uint32 length + bytes.
//
// Fail closed: a packet the audit cannot read (shorter than a type and an id, longer than OpenSSH's own limit, or a
// request whose path does not fit in the kept head) throws SftpMalformed, and the relay ends the channel rather than
// pass on what it could not audit. After that every further byte throws too.

const FXP = {
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  RENAME: 18,
  SYMLINK: 20,
  EXTENDED: 200,
  HANDLE: 102,
  DATA: 103,
} as const;

/** pflags of OPEN: SSH_FXF_WRITE. */
const FXF_WRITE = 0x02;

/** Bytes of a packet kept for parsing: more than any request head (paths are at most a few KiB). */
const HEAD_BYTES = 8192;

/** The longest packet: OpenSSH's SFTP_MAX_MSG_LENGTH (its sftp-server and sftp end the session on a longer one). */
export const MAX_PACKET = 256 * 1024;

/** A packet the audit cannot read: the channel is ended (the message says why, without the packet's bytes). */
export class SftpMalformed extends Error {}

/** What the audit hears: one line per file or change, e.g. "sftp download /etc/hosts (220 bytes)". */
export interface SftpEvent {
  op: 'upload' | 'download' | 'remove' | 'rename' | 'mkdir' | 'rmdir' | 'symlink' | 'link';
  path: string;
  /** rename: the new name; symlink: the link's target; link: the existing file the new name links to. */
  to?: string;
  bytes?: number;
}

export function describeSftp(e: SftpEvent): string {
  if (e.op === 'upload' || e.op === 'download') return `sftp ${e.op} ${e.path} (${e.bytes ?? 0} bytes)`;
  if (e.op === 'rename') return `sftp rename ${e.path} ${e.to ?? ''}`;
  if (e.op === 'symlink' || e.op === 'link') return `sftp ${e.op} ${e.path} -> ${e.to ?? ''}`;
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
        // A type and a request id (or INIT's and VERSION's version) at least; at most what OpenSSH accepts.
        if (this.total < 5) throw new SftpMalformed(`an SFTP packet of ${this.total} bytes is too short`);
        if (this.total > MAX_PACKET) throw new SftpMalformed(`an SFTP packet of ${this.total} bytes is longer than ${MAX_PACKET}`);
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

/** The client requests the audit reads (each starts with a string after its id), and the one reply (HANDLE). */
const NAMES: Record<number, string> = { [FXP.OPEN]: 'OPEN', [FXP.CLOSE]: 'CLOSE', [FXP.READ]: 'READ', [FXP.WRITE]: 'WRITE', [FXP.REMOVE]: 'REMOVE', [FXP.MKDIR]: 'MKDIR', [FXP.RMDIR]: 'RMDIR', [FXP.RENAME]: 'RENAME', [FXP.SYMLINK]: 'SYMLINK', [FXP.EXTENDED]: 'EXTENDED', [FXP.HANDLE]: 'HANDLE' };

/** The string at `at` of a packet the audit must read (a path or handle): there, or the packet is malformed. */
function need(b: Buffer, at: number, type: number): { s: Buffer; next: number } {
  const r = str(b, at);
  if (!r) throw new SftpMalformed(`an SFTP ${NAMES[type] ?? type} packet whose string does not fit in it (or in the ${HEAD_BYTES} bytes the audit reads)`);
  return r;
}

/** Wraps a packet splitter so that, once it threw, every later chunk throws too. */
function failClosed(push: (chunk: Buffer) => void): (chunk: Buffer) => void {
  let failed: SftpMalformed | null = null;
  return (chunk) => {
    if (failed) throw failed;
    try {
      push(chunk);
    } catch (e) {
      failed = e instanceof SftpMalformed ? e : new SftpMalformed(`an SFTP packet the audit could not read: ${(e as Error).message}`);
      throw failed;
    }
  };
}

/** An SFTP audit for one channel: feed it each direction's bytes; it calls `onEvent` as files close. */
export function makeSftpAudit(onEvent: (e: SftpEvent) => void) {
  const opening = new Map<number, { path: string; write: boolean }>(); // request id → OPEN waiting for its HANDLE
  const reading = new Map<number, string>(); // request id → handle of a READ waiting for its DATA
  const files = new Map<string, OpenFile>(); // handle (binary, as latin1) → the open file

  const fromClient = new PacketHeads((h, total) => {
    const type = h[0]!;
    const id = h.readUInt32BE(1);
    if (!(type in NAMES) || type === FXP.HANDLE) return;
    const a = need(h, 5, type);
    switch (type) {
      case FXP.OPEN:
        if (a.next + 4 > h.length) throw new SftpMalformed('an SFTP OPEN packet without its flags');
        opening.set(id, { path: a.s.toString('utf8'), write: (h.readUInt32BE(a.next) & FXF_WRITE) !== 0 });
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
      case FXP.RMDIR:
        onEvent({ op: 'rmdir', path: a.s.toString('utf8') });
        break;
      case FXP.SYMLINK: {
        // OpenSSH sends the target first and the link's path second (its PROTOCOL file: the draft's order reversed).
        const b = need(h, a.next, type);
        onEvent({ op: 'symlink', path: b.s.toString('utf8'), to: a.s.toString('utf8') });
        break;
      }
      case FXP.EXTENDED: {
        // The request's name, then its own fields: the two that change names are audited as the plain requests are.
        const name = a.s.toString('latin1');
        if (name !== 'posix-rename@openssh.com' && name !== 'hardlink@openssh.com') break;
        const from = need(h, a.next, type);
        const to = need(h, from.next, type);
        if (name === 'posix-rename@openssh.com') onEvent({ op: 'rename', path: from.s.toString('utf8'), to: to.s.toString('utf8') });
        else onEvent({ op: 'link', path: to.s.toString('utf8'), to: from.s.toString('utf8') });
        break;
      }
      case FXP.RENAME: {
        const b = need(h, a.next, type);
        onEvent({ op: 'rename', path: a.s.toString('utf8'), to: b.s.toString('utf8') });
        break;
      }
    }
  });

  const fromServer = new PacketHeads((h, total) => {
    const type = h[0]!;
    const id = h.readUInt32BE(1);
    if (type === FXP.HANDLE) {
      const o = opening.get(id);
      opening.delete(id);
      const a = need(h, 5, type);
      if (o) files.set(a.s.toString('latin1'), { path: o.path, write: o.write, read: 0, written: 0 });
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
    /** The client's bytes, in order; throws SftpMalformed (then on every later call) on a packet it cannot read. */
    client: failClosed((chunk) => fromClient.push(chunk)),
    /** The host's bytes, in order; throws as `client` does. */
    server: failClosed((chunk) => fromServer.push(chunk)),
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
