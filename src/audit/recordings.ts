// Session recordings (SSH and exec): asciicast v2 files under <data>/recordings, written in chunks so a crash loses at
// most a second, sealed at the session's end with their SHA-256 (which the front-end puts in session.end, so the audit
// chain vouches for the file); and the live feed a watcher (the console, `airlock sessions watch`) reads while the
// session runs. One Recordings per process: live watching reaches the sessions of this process.
import { createHash } from 'node:crypto';
import { mkdirSync, openSync, writeSync, fsyncSync, closeSync } from 'node:fs';
import { join, relative } from 'node:path';
import { EventEmitter } from 'node:events';

/** How often buffered output is written to the file: at most this much is lost when the process dies. */
export const FLUSH_MS = 1000;

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
}

/** One asciicast event as a watcher receives it: [seconds since the start, "o" | "i" | "r", data]. */
export type CastEvent = [number, 'o' | 'i' | 'r', string];

export interface Recording {
  readonly session_id: string;
  /** The header line of the file (JSON), for a watcher that joins late. */
  readonly header: string;
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
   * Follows a live session's events from now on: `listener` gets the header first, then each event; `ended` when the
   * recording closes. Returns the unsubscribe function, or null when this process runs no such session.
   */
  watch(sessionId: string, listener: { header(h: string): void; event(e: CastEvent): void; ended(): void }): (() => void) | null;
  /** Session ids recorded live in this process. */
  live(): string[];
  /** The absolute path of a sealed file (`seal.file` is relative to the data directory). */
  path(file: string): string;
  readonly dir: string;
}

export function makeRecordings(dataDir: string): Recordings {
  const dir = join(dataDir, 'recordings');
  const live = new Map<string, { rec: Recording; bus: EventEmitter }>();

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
    const bus = new EventEmitter();
    bus.setMaxListeners(0);
    // Multi-byte characters split across two reads are kept whole: each stream decodes on its own.
    const decoders = { o: new TextDecoder('utf-8'), i: new TextDecoder('utf-8') };

    const write = (text: string): void => {
      const b = Buffer.from(text, 'utf8');
      writeSync(fd, b);
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
      bus.emit('event', ev);
      timer ??= setTimeout(flush, FLUSH_MS);
    };
    const text = (kind: 'o' | 'i', data: Buffer | string): string => (typeof data === 'string' ? data : decoders[kind].decode(data, { stream: true }));

    write(header + '\n');
    const rec: Recording = {
      session_id: o.session_id,
      header,
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
        fsyncSync(fd);
        closeSync(fd);
        seal = { file: relative(dataDir, abs), sha256: hash.digest('hex'), bytes, events };
        live.delete(o.session_id);
        bus.emit('ended');
        bus.removeAllListeners();
        return seal;
      },
    };
    live.set(o.session_id, { rec, bus });
    return rec;
  }

  return {
    dir,
    start,
    path: (file) => join(dataDir, file),
    live: () => [...live.keys()],
    watch(sessionId, listener) {
      const l = live.get(sessionId);
      if (!l) return null;
      listener.header(l.rec.header);
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
