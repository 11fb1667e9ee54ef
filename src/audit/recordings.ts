// Session recordings (SSH and exec): asciicast v2 files under <data>/recordings, written in chunks so a crash loses at
// most a second, sealed at the session's end with their SHA-256 (which the front-end puts in session.end, so the audit
// chain vouches for the file); and the live feed a watcher (the console, `airlock sessions watch`) reads while the
// session runs. One Recordings per process: live watching reaches the sessions of this process.
import { createHash } from 'node:crypto';
import { mkdirSync, openSync, writeSync, fsyncSync, closeSync, ftruncateSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { EventEmitter } from 'node:events';

/** How often buffered output is written to the file: at most this much is lost when the process dies. */
export const FLUSH_MS = 1000;

/** How much of the latest output (characters of event data) a watcher who joins a running session is shown first. */
export const BACKLOG_CHARS = 256 * 1024;

export interface RecordingStart {
  session_id: string;
  /** Terminal size at the start (80×24 when the session has no terminal). */
  width: number;
  height: number;
  /** Keystrokes too ("i" events); off by default (passwords typed at prompts would be kept). */
  record_input: boolean;
  /** Header fields: what ran, and on what. */
  title: string;
  env?: Record<string, string>;
}

/** What session.end carries as `recording`: enough to find the file and prove it was not edited. */
export interface RecordingSeal {
  /** Path relative to the data directory, e.g. recordings/2026-12-07/ses_….cast */
  file: string;
  sha256: string;
  bytes: number;
  /** Events written (output, input, resize). */
  events: number;
  /**
   * Set when writing the file failed (disk full, …): the file stops there and the seal covers what was written; the
   * session's later output is not recorded. Absent when the file is whole.
   */
  error?: string;
}

/** One asciicast event as a watcher receives it: [seconds since the start, "o" | "i" | "r", data]. */
export type CastEvent = [number, 'o' | 'i' | 'r', string];

export interface Recording {
  readonly session_id: string;
  /** The header line of the file (JSON), for a watcher that joins late. */
  readonly header: string;
  /** When the recording started (ms since the epoch): event times count from here. */
  readonly started: number;
  /** Terminal output (both stdout and stderr of a command). */
  output(data: Buffer | string): void;
  /** Keystrokes and stdin; recorded only when record_input. */
  input(data: Buffer | string): void;
  /** The terminal's new size. */
  resize(width: number, height: number): void;
  /** Flushes, fsyncs and closes the file; its seal. Idempotent (the same seal each time). */
  close(): Promise<RecordingSeal>;
}

export interface Recordings {
  /** Starts a recording; the file exists (with its header) when this returns. */
  start(o: RecordingStart): Recording;
  /**
   * Follows a live session: `listener` gets the header first (and when the recording started, ms since the epoch), then the latest events so far (up to BACKLOG_CHARS of
   * data, so the screen is not blank for a late joiner), then each new event; `ended` when the recording closes.
   * Returns the unsubscribe function, or null when this process runs no such session.
   */
  watch(sessionId: string, listener: { header(h: string, started?: number): void; event(e: CastEvent): void; ended(): void }): (() => void) | null;
  /** Session ids recorded live in this process. */
  live(): string[];
  /** The absolute path of a sealed file (`seal.file` is relative to the data directory); throws for one outside recordings/. */
  path(file: string): string;
  readonly dir: string;
  /** The data directory seals' `file` is relative to. */
  readonly dataDir: string;
}

export function makeRecordings(dataDir: string): Recordings {
  const dir = join(dataDir, 'recordings');
  const live = new Map<string, { rec: Recording; bus: EventEmitter; backlog: () => CastEvent[] }>();

  function start(o: RecordingStart): Recording {
    const day = new Date().toISOString().slice(0, 10);
    const folder = join(dir, day);
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    const abs = join(folder, `${o.session_id}.cast`);
    const fd = openSync(abs, 'wx', 0o600);
    const started = Date.now();
    const header = JSON.stringify({ version: 2, width: o.width, height: o.height, timestamp: Math.floor(started / 1000), title: o.title, env: o.env ?? {} });
    const hash = createHash('sha256');
    let bytes = 0;
    let events = 0;
    let pending: string[] = [];
    let timer: NodeJS.Timeout | null = null;
    let seal: RecordingSeal | null = null;
    let failure: string | null = null;
    const backlog: CastEvent[] = [];
    let backlogChars = 0;
    const bus = new EventEmitter();
    bus.setMaxListeners(0);
    // Multi-byte characters split across two reads are kept whole: each stream decodes on its own.
    const decoders = { o: new TextDecoder('utf-8'), i: new TextDecoder('utf-8') };

    /**
     * Appends to the file and the hash. A failed write (disk full) is not thrown from the flush timer, which would take
     * the gateway down: the file stops at its last whole write, and the seal says why.
     */
    const write = (text: string): void => {
      if (failure) return;
      const b = Buffer.from(text, 'utf8');
      try {
        let off = 0;
        while (off < b.length) off += writeSync(fd, b, off);
      } catch (e) {
        failure = `the recording could not be written after ${bytes} bytes: ${(e as Error).message}`;
        try {
          ftruncateSync(fd, bytes);
        } catch {
          // The seal still says where the whole part ends; verification reports the rest as an edit.
        }
        return;
      }
      hash.update(b);
      bytes += b.length;
    };
    const flush = (): void => {
      timer = null;
      if (pending.length === 0) return;
      const text = pending.join('');
      pending = [];
      write(text);
    };
    const push = (kind: 'o' | 'i' | 'r', data: string): void => {
      if (seal || data.length === 0) return;
      const ev: CastEvent = [Math.round((Date.now() - started) / 1000 * 1e6) / 1e6, kind, data];
      pending.push(JSON.stringify(ev) + '\n');
      events++;
      backlog.push(ev);
      backlogChars += data.length;
      if (backlogChars > BACKLOG_CHARS) {
        let drop = 0;
        while (backlogChars > BACKLOG_CHARS / 2 && drop < backlog.length - 1) backlogChars -= backlog[drop++]![2].length;
        backlog.splice(0, drop);
      }
      bus.emit('event', ev);
      timer ??= setTimeout(flush, FLUSH_MS);
    };
    const text = (kind: 'o' | 'i', data: Buffer | string): string => (typeof data === 'string' ? data : decoders[kind].decode(data, { stream: true }));

    write(header + '\n');
    const rec: Recording = {
      session_id: o.session_id,
      header,
      started,
      output: (data) => push('o', text('o', data)),
      input: (data) => {
        if (o.record_input) push('i', text('i', data));
      },
      resize: (w, h) => push('r', `${w}x${h}`),
      async close() {
        if (seal) return seal;
        if (timer) clearTimeout(timer);
        const tail = decoders.o.decode();
        if (tail) push('o', tail);
        flush();
        try {
          fsyncSync(fd);
        } catch (e) {
          failure ??= `the recording could not be made durable: ${(e as Error).message}`;
        }
        closeSync(fd);
        seal = { file: relative(dataDir, abs), sha256: hash.digest('hex'), bytes, events, ...(failure ? { error: failure } : {}) };
        backlog.length = 0;
        live.delete(o.session_id);
        bus.emit('ended');
        bus.removeAllListeners();
        return seal;
      },
    };
    live.set(o.session_id, { rec, bus, backlog: () => backlog.slice() });
    return rec;
  }

  return {
    dir,
    dataDir,
    start,
    path(file) {
      // A seal names a file under recordings/; anything else (an edited event's "../…") is not opened.
      const abs = resolve(dataDir, file);
      if (!abs.startsWith(resolve(dir) + sep)) throw new Error(`"${file}" is not a file under ${dir}`);
      return abs;
    },
    live: () => [...live.keys()],
    watch(sessionId, listener) {
      const l = live.get(sessionId);
      if (!l) return null;
      listener.header(l.rec.header, l.rec.started);
      for (const e of l.backlog()) listener.event(e);
      const onEvent = (e: CastEvent): void => listener.event(e);
      const onEnd = (): void => listener.ended();
      l.bus.on('event', onEvent);
      l.bus.once('ended', onEnd);
      return () => {
        l.bus.off('event', onEvent);
        l.bus.off('ended', onEnd);
      };
    },
  };
}
