// Reads the SFTP packets relayed through an allowed sftp subsystem (both directions, bytes passed on untouched) to
// audit each file once, when its handle is closed: path, direction (upload/download) and bytes moved; and each
// change: remove, rename (also posix-rename@openssh.com), mkdir, rmdir, symlink, hardlink, setstat/fsetstat/lsetstat
// and copy-data. Only packet heads are kept (a WRITE's or DATA's payload is counted and skipped), so the audit costs
// no copy of the file.
//
// Fail closed on the client's side: a length prefix OpenSSH would never accept (shorter than a type and an id, longer
// than its 256 KiB) is refused as soon as its 4 bytes are in, before anything of the packet is kept; so are a path or
// handle that does not fit in its packet, unknown requests and extensions. The host's replies are read, not judged.
//
// Wire facts (draft-ietf-secsh-filexfer-02, what OpenSSH speaks): every packet is uint32 length (of what follows),
// byte type, then for requests uint32 request-id; strings are uint32 length + bytes.

const FXP = {
  INIT: 1,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

/** Requests that only read (names, attributes) or end a handle: passed on without an audit line of their own. */
const READ_ONLY = new Set<number>([FXP.LSTAT, FXP.FSTAT, FXP.OPENDIR, FXP.READDIR, FXP.REALPATH, FXP.STAT, FXP.READLINK]);

/** Extensions (OpenSSH's) that only read or flush: passed on. Any other extension is refused (fail closed). */
const READ_ONLY_EXTENSIONS = new Set(['statvfs@openssh.com', 'fstatvfs@openssh.com', 'fsync@openssh.com', 'limits@openssh.com', 'expand-path@openssh.com', 'home-directory', 'users-groups-by-id@openssh.com']);

/** pflags of OPEN: SSH_FXF_WRITE. */
const FXF_WRITE = 0x02;

/** Bytes of a packet kept for parsing: more than any request head (paths are at most a few KiB). */
const HEAD_BYTES = 8192;

/** Requests in flight and files open per channel: far above what sftp (64 requests) or sshfs keep. */
const MAX_OUTSTANDING = 4096;
const MAX_OPEN_FILES = 4096;

/** What the audit hears: one line per file or change, e.g. "sftp download /etc/hosts (220 bytes)". */
export interface SftpEvent {
  op: 'upload' | 'download' | 'remove' | 'rename' | 'mkdir' | 'rmdir' | 'symlink' | 'hardlink' | 'setstat' | 'copy-data';
  path: string;
  /** rename, hardlink: the new name; symlink: what the link points to; copy-data: the file written. */
  to?: string;
  bytes?: number;
  /** setstat: what changes, e.g. "mode 0777, uid 0 gid 0". */
  attrs?: string;
}

export function describeSftp(e: SftpEvent): string {
  if (e.op === 'upload' || e.op === 'download') return `sftp ${e.op} ${e.path} (${e.bytes ?? 0} bytes)`;
  if (e.op === 'rename' || e.op === 'hardlink') return `sftp ${e.op} ${e.path} ${e.to ?? ''}`;
  if (e.op === 'symlink') return `sftp symlink ${e.path} -> ${e.to ?? ''}`;
  if (e.op === 'setstat') return `sftp setstat ${e.path} (${e.attrs ?? 'no change'})`;
  if (e.op === 'copy-data') return `sftp copy-data ${e.path} -> ${e.to ?? ''} (${e.bytes ?? 0} bytes)`;
  return `sftp ${e.op} ${e.path}`;
}

/** The attributes a SETSTAT sets (draft-02 ATTRS: flags, then size, uid/gid, permissions, times as flagged). */
function describeAttrs(b: Buffer, at: number): string | null {
  if (at + 4 > b.length) return null;
  const flags = b.readUInt32BE(at);
  let p = at + 4;
  const out: string[] = [];
  const need = (n: number): boolean => p + n <= b.length;
  if (flags & 0x1) {
    if (!need(8)) return null;
    out.push(`size ${b.readBigUInt64BE(p)}`);
    p += 8;
  }
  if (flags & 0x2) {
    if (!need(8)) return null;
    out.push(`uid ${b.readUInt32BE(p)} gid ${b.readUInt32BE(p + 4)}`);
    p += 8;
  }
  if (flags & 0x4) {
    if (!need(4)) return null;
    out.push(`mode ${(b.readUInt32BE(p) & 0o7777).toString(8).padStart(4, '0')}`);
    p += 4;
  }
  if (flags & 0x8) {
    if (!need(8)) return null;
    out.push(`atime ${b.readUInt32BE(p)} mtime ${b.readUInt32BE(p + 4)}`);
    p += 8;
  }
  if (flags & 0x80000000) out.push('extended attributes');
  return out.join(', ') || 'no change';
}

interface OpenFile {
  path: string;
  write: boolean;
  read: number;
  written: number;
}

/** The longest packet: OpenSSH's SFTP_MAX_MSG_LENGTH (its sftp-server ends the session on a longer one). */
export const MAX_PACKET = 256 * 1024;

/** Why a packet is refused, or null to read on. */
type Verdict = string | null;

/**
 * One direction's packet splitter: asks `onLength(total)` as soon as a packet's length prefix is in (so a length it
 * will never accept is refused before any of the packet is kept), then calls `onHead(head, total)` with up to
 * HEAD_BYTES of the packet. The first refusal stops it: that chunk and every later one get the same answer.
 */
class PacketHeads {
  private head = Buffer.alloc(0);
  private want = 4; // bytes still needed for the length, then for the head
  private skip = 0; // payload bytes of the current packet not kept
  private total = -1; // the current packet's length, once read
  private refused: Verdict = null;

  constructor(
    private readonly onHead: (head: Buffer, total: number) => Verdict,
    private readonly onLength: (total: number) => Verdict = () => null,
  ) {}

  push(chunk: Buffer): Verdict {
    let p = 0;
    while (p < chunk.length && this.refused === null) {
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
        this.refused = this.onLength(this.total);
        if (this.refused !== null) break;
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
      this.refused = this.onHead(head, total);
    }
    return this.refused;
  }
}

function str(b: Buffer, at: number): { s: Buffer; next: number } | null {
  if (at + 4 > b.length) return null;
  const n = b.readUInt32BE(at);
  if (at + 4 + n > b.length) return null;
  return { s: b.subarray(at + 4, at + 4 + n), next: at + 4 + n };
}

/**
 * An SFTP audit for one channel: feed it each direction's bytes; it calls `onEvent` as files close and changes are
 * asked for. `client()` returns why the chunk must not be passed on (the channel is then ended), or null: a request id
 * reused while still outstanding (its reply would be booked under the wrong file), a packet length OpenSSH would not
 * accept, a request the audit cannot read, an unknown request type or extension, or too many requests or open files.
 */
export function makeSftpAudit(onEvent: (e: SftpEvent) => void) {
  const outstanding = new Set<number>(); // request ids sent and not yet answered
  const opening = new Map<number, { path: string; write: boolean }>(); // request id → OPEN waiting for its HANDLE
  const reading = new Map<number, string>(); // request id → handle of a READ waiting for its DATA
  const files = new Map<string, OpenFile>(); // handle (binary, as latin1) → the open file

  const pathOf = (handle: Buffer): string => files.get(handle.toString('latin1'))?.path ?? `handle ${handle.toString('hex')}`;

  const request = (h: Buffer, total: number): string | null => {
    const type = h[0]!; // the head holds at least a type and an id: shorter packets were refused by their length
    if (type === FXP.INIT) return null;
    const id = h.readUInt32BE(1);
    if (outstanding.has(id)) return `request id ${id} was sent again before the host answered it`;
    if (outstanding.size >= MAX_OUTSTANDING) return `more than ${MAX_OUTSTANDING} requests waiting for the host`;
    outstanding.add(id);
    const unreadable = `an SFTP request of type ${type} whose fields do not fit in it (or in the ${HEAD_BYTES} bytes the audit reads)`;
    const a = str(h, 5);
    switch (type) {
      case FXP.OPEN:
        if (!a || a.next + 4 > h.length) return unreadable;
        if (files.size + opening.size >= MAX_OPEN_FILES) return `more than ${MAX_OPEN_FILES} files open at once`;
        opening.set(id, { path: a.s.toString('utf8'), write: (h.readUInt32BE(a.next) & FXF_WRITE) !== 0 });
        return null;
      case FXP.READ:
        if (!a) return unreadable;
        reading.set(id, a.s.toString('latin1'));
        return null;
      case FXP.WRITE: {
        // handle, uint64 offset, then the data string: its length is what is left of the packet after its own header.
        if (!a || a.next + 8 + 4 > h.length) return unreadable;
        const f = files.get(a.s.toString('latin1'));
        if (f) f.written += total - (a.next + 8 + 4);
        return null;
      }
      case FXP.CLOSE: {
        if (!a) return unreadable;
        const handle = a.s.toString('latin1');
        const f = files.get(handle);
        if (!f) return null;
        files.delete(handle);
        const upload = f.written > 0 || (f.write && f.read === 0);
        onEvent({ op: upload ? 'upload' : 'download', path: f.path, bytes: upload ? f.written : f.read });
        return null;
      }
      case FXP.REMOVE:
      case FXP.MKDIR:
      case FXP.RMDIR:
        if (!a) return unreadable;
        onEvent({ op: type === FXP.REMOVE ? 'remove' : type === FXP.MKDIR ? 'mkdir' : 'rmdir', path: a.s.toString('utf8') });
        return null;
      case FXP.RENAME:
      case FXP.SYMLINK: {
        const b = a && str(h, a.next);
        if (!a || !b) return unreadable;
        // OpenSSH sends SYMLINK's two paths in the opposite order to the draft: the target first, then the link.
        if (type === FXP.RENAME) onEvent({ op: 'rename', path: a.s.toString('utf8'), to: b.s.toString('utf8') });
        else onEvent({ op: 'symlink', path: b.s.toString('utf8'), to: a.s.toString('utf8') });
        return null;
      }
      case FXP.SETSTAT:
      case FXP.FSETSTAT: {
        const attrs = a && describeAttrs(h, a.next);
        if (!a || attrs === null) return unreadable;
        onEvent({ op: 'setstat', path: type === FXP.SETSTAT ? a.s.toString('utf8') : pathOf(a.s), attrs });
        return null;
      }
      case FXP.EXTENDED:
        if (!a) return unreadable;
        return extended(a.s.toString('utf8'), h, a.next);
      default:
        return READ_ONLY.has(type) ? (a ? null : unreadable) : `an SFTP request of type ${type}, which the audit does not know`;
    }
  };

  const extended = (name: string, h: Buffer, at: number): string | null => {
    const unreadable = `the SFTP extension ${name.slice(0, 100)} with arguments that do not fit in it`;
    if (READ_ONLY_EXTENSIONS.has(name)) return null;
    if (name === 'posix-rename@openssh.com' || name === 'hardlink@openssh.com') {
      const a = str(h, at);
      const b = a && str(h, a.next);
      if (!a || !b) return unreadable;
      onEvent({ op: name === 'hardlink@openssh.com' ? 'hardlink' : 'rename', path: a.s.toString('utf8'), to: b.s.toString('utf8') });
      return null;
    }
    if (name === 'lsetstat@openssh.com') {
      const a = str(h, at);
      const attrs = a && describeAttrs(h, a.next);
      if (!a || attrs === null) return unreadable;
      onEvent({ op: 'setstat', path: a.s.toString('utf8'), attrs });
      return null;
    }
    if (name === 'copy-data') {
      // read handle, uint64 offset, uint64 length, write handle, uint64 offset
      const r = str(h, at);
      const w = r && r.next + 16 <= h.length ? str(h, r.next + 16) : null;
      if (!r || !w) return unreadable;
      const length = Number(h.readBigUInt64BE(r.next + 8));
      const target = files.get(w.s.toString('latin1'));
      if (target) target.written += length; // the file written is audited as an upload when it closes
      onEvent({ op: 'copy-data', path: pathOf(r.s), to: pathOf(w.s), bytes: length });
      return null;
    }
    return `the SFTP extension ${name.slice(0, 100)}, which the audit does not know`;
  };

  // A type and a request id (INIT: its version) at least; at most what OpenSSH's sftp-server accepts.
  const clientLength = (total: number): Verdict =>
    total < 5 ? `an SFTP packet of ${total} bytes, shorter than a type and a request id` : total > MAX_PACKET ? `an SFTP packet of ${total} bytes, longer than the ${MAX_PACKET} OpenSSH accepts` : null;
  const fromClient = new PacketHeads(request, clientLength);

  // The host's replies are read, never refused: a reply the audit cannot read books nothing.
  const fromServer = new PacketHeads((h, total) => {
    if (h.length < 5) return null;
    const type = h[0]!;
    const id = h.readUInt32BE(1);
    if (type < FXP.STATUS || (type > FXP.ATTRS && type !== FXP.EXTENDED_REPLY)) return null; // VERSION and the like
    outstanding.delete(id);
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
    return null;
  });

  return {
    /** A chunk from the client: null to pass it on, or why the channel must end (then and for every later chunk). */
    client: (chunk: Buffer): string | null => fromClient.push(chunk),
    /** A chunk from the host: always passed on. */
    server(chunk: Buffer): void {
      fromServer.push(chunk);
    },
    /** The channel closed: files still open are audited as they stand. */
    end() {
      for (const f of files.values()) {
        const upload = f.written > 0 || (f.write && f.read === 0);
        onEvent({ op: upload ? 'upload' : 'download', path: f.path, bytes: upload ? f.written : f.read });
      }
      files.clear();
      opening.clear();
      reading.clear();
      outstanding.clear();
    },
  };
}
