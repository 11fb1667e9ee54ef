// Splits PostgreSQL byte streams into messages: whole typed messages from clients, and a streaming scanner for the
// server's replies that forwards bytes as slices and reads only the few messages the relay must understand.
import { ProtocolError, typeName } from './protocol.js';

/** The longest startup packet PostgreSQL itself accepts (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_PACKET = 10_000;

/**
 * Reads typed messages: a type byte, then an int32 length that counts itself but not the type byte.
 * The length is checked against the cap before a byte of the body is buffered.
 */
export class MessageReader {
  private readonly head = Buffer.alloc(5);
  private headLen = 0;
  private partial: Buffer | null = null;
  private filled = 0;

  constructor(public maxMessageBytes: number) {}

  /**
   * Calls onMessage with each complete message (type byte and length included), in order. A message that lies
   * inside one chunk is a view of that chunk; one spread over several chunks is copied once into a buffer of its
   * own, so a held message never pins more than its chunk and partial state never aliases a delivered message.
   */
  push(chunk: Buffer, onMessage: (msg: Buffer) => void): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.partial) {
        const take = Math.min(this.partial.length - this.filled, n - i);
        chunk.copy(this.partial, this.filled, i, i + take);
        this.filled += take;
        i += take;
        if (this.filled === this.partial.length) {
          const msg = this.partial;
          this.partial = null;
          onMessage(msg);
        }
        continue;
      }
      if (this.headLen === 0 && n - i >= 5) {
        const total = this.total(chunk[i]!, chunk.readInt32BE(i + 1));
        if (n - i >= total) {
          onMessage(chunk.subarray(i, i + total));
          i += total;
        } else {
          this.partial = Buffer.allocUnsafe(total);
          chunk.copy(this.partial, 0, i, n);
          this.filled = n - i;
          i = n;
        }
        continue;
      }
      this.head[this.headLen++] = chunk[i++]!;
      if (this.headLen === 5) {
        this.headLen = 0;
        const total = this.total(this.head[0]!, this.head.readInt32BE(1));
        if (total === 5) {
          onMessage(Buffer.from(this.head));
        } else {
          this.partial = Buffer.allocUnsafe(total);
          this.head.copy(this.partial, 0, 0, 5);
          this.filled = 5;
        }
      }
    }
  }

  /** Bytes received that do not yet form a complete message (a copy). */
  pending(): Buffer {
    if (this.partial) return Buffer.from(this.partial.subarray(0, this.filled));
    return Buffer.from(this.head.subarray(0, this.headLen));
  }

  private total(type: number, length: number): number {
    if (length < 4) throw new ProtocolError(`message ${typeName(type)} has an invalid length (${length})`);
    if (length - 4 > this.maxMessageBytes) {
      throw new ProtocolError(`message ${typeName(type)} of ${length - 4} bytes exceeds the gateway's limit of ${this.maxMessageBytes} bytes; the session was ended`, '');
    }
    return length + 1;
  }
}

/** What the relay does with the server's messages as the scanner walks over them. */
export interface ScanSink {
  /**
   * A message whose body the relay does not need (DataRow, CopyData, …): return true to forward its bytes, false to
   * drop them, or WHOLE to have it assembled and passed to `whole` like a message of `wholeTypes` (a DataRow with a
   * masked column), within the same size cap. Called when its header is complete; may call scanner.cut() and then
   * write messages of its own.
   */
  streamed(type: number, length: number): boolean | typeof WHOLE;
  /**
   * A message the relay reads whole (see `wholeTypes`): return the bytes to forward in its place (`msg` itself to
   * forward it unchanged), or null. `msg` may be a view of the chunk, valid only during the call: copy what you keep.
   * Must not write (out) or cut: what it returns is what goes out, in its place.
   */
  whole(msg: Buffer): Buffer | null;
  /** Bytes to forward, in order. */
  out(bytes: Buffer): void;
}

/** ScanSink.streamed's answer for a message it must read whole after all. */
export const WHOLE = 'whole';

type Mode = 'boundary' | 'forward' | 'drop' | 'collect';

/**
 * Walks the server's stream without copying it: runs of forwarded messages leave as slices of the chunk they came
 * in; only messages of `wholeTypes` (small: CommandComplete, ErrorResponse, ReadyForQuery) are assembled, and
 * only those are bounded by `maxWhole`, so a 1 GB DataRow streams through in constant memory.
 */
export class BackendScanner {
  private readonly head = Buffer.alloc(5);
  private headLen = 0;
  private mode: Mode = 'boundary';
  private left = 0;
  private collect: Buffer | null = null;
  private collected = 0;
  private chunk: Buffer = Buffer.alloc(0);
  private runStart = -1;
  private msgStart = 0;
  private stopAtBoundary: (() => void) | null = null;
  private stopped = false;

  constructor(
    private readonly wholeTypes: ReadonlySet<number>,
    private readonly maxWhole: number,
    private readonly sink: ScanSink,
  ) {}

  /** True while a forwarded message is partly written: nothing may be injected into the stream until it ends. */
  get midMessage(): boolean {
    return this.mode === 'forward';
  }

  feed(chunk: Buffer): void {
    if (this.stopped) return;
    this.chunk = chunk;
    this.runStart = this.mode === 'forward' ? 0 : -1;
    const n = chunk.length;
    let i = 0;
    while (i < n && !this.stopped) {
      if (this.mode !== 'boundary') {
        const take = Math.min(this.left, n - i);
        if (this.mode === 'collect') chunk.copy(this.collect!, this.collected, i, i + take);
        this.collected += take;
        this.left -= take;
        i += take;
        if (this.left === 0) this.finish(i);
        continue;
      }
      if (this.headLen === 0 && n - i >= 5) {
        this.msgStart = i;
        i = this.begin(chunk[this.msgStart]!, chunk.readInt32BE(this.msgStart + 1), false, i + 5);
        continue;
      }
      // A header cut by the chunk's end: keep its bytes in `head`, forward nothing of it yet. Whenever it completes
      // here, it began in an earlier chunk, so this message starts (as far as this chunk goes) at 0.
      if (this.headLen === 0) this.flushRun(i);
      this.head[this.headLen++] = chunk[i++]!;
      if (this.headLen === 5) {
        this.headLen = 0;
        this.msgStart = 0;
        i = this.begin(this.head[0]!, this.head.readInt32BE(1), true, i);
      }
    }
    if (!this.stopped && this.headLen === 0) this.flushRun(n);
  }

  /** Forwards everything before the current message, so the sink can write its own messages in order. */
  cut(): void {
    this.flushRun(this.msgStart);
  }

  /** Calls `fn` once the stream is at a message boundary (now, or when the message being forwarded ends); then stops. */
  stopWhenAtBoundary(fn: () => void): void {
    if (this.mode !== 'forward') {
      this.flushRun(this.msgStart);
      this.stopped = true;
      fn();
    } else {
      this.stopAtBoundary = fn;
    }
  }

  /** Starts the message whose body begins at `bodyAt`; returns where the walk goes on. */
  private begin(type: number, length: number, headerSpanned: boolean, bodyAt: number): number {
    if (length < 4) throw new ProtocolError(`the database server sent message ${typeName(type)} with an invalid length (${length})`);
    this.left = length - 4;
    this.collected = 0;
    const how = this.wholeTypes.has(type) ? WHOLE : this.sink.streamed(type, length);
    if (how === WHOLE) {
      if (length + 1 > this.maxWhole) throw new ProtocolError(`the database server sent message ${typeName(type)} of ${length} bytes, over the limit`);
      const end = bodyAt + this.left;
      if (!headerSpanned && end <= this.chunk.length) return this.wholeInChunk(end);
      this.flushRun(this.msgStart);
      this.collect = Buffer.allocUnsafe(length + 1);
      if (headerSpanned) this.head.copy(this.collect, 0, 0, 5);
      else this.chunk.copy(this.collect, 0, this.msgStart, this.msgStart + 5);
      this.collected = 5;
      this.mode = 'collect';
    } else if (how) {
      if (headerSpanned) {
        this.flushRun(this.msgStart);
        this.sink.out(Buffer.from(this.head));
        this.runStart = bodyAt;
      } else if (this.runStart < 0) {
        this.runStart = this.msgStart;
      }
      this.mode = 'forward';
    } else {
      this.flushRun(this.msgStart);
      this.mode = 'drop';
    }
    if (this.left === 0) this.finish(bodyAt);
    return bodyAt;
  }

  /**
   * A message of `wholeTypes` that lies entirely in this chunk (the usual case): the sink reads it in place, and if it
   * is forwarded unchanged its bytes stay in the run of forwarded bytes (no copy, no extra write part).
   */
  private wholeInChunk(end: number): number {
    const view = this.chunk.subarray(this.msgStart, end);
    this.left = 0;
    const replacement = this.sink.whole(view);
    if (replacement === view) {
      if (this.runStart < 0) this.runStart = this.msgStart;
    } else {
      this.flushRun(this.msgStart);
      if (replacement) this.sink.out(replacement);
    }
    this.finish(end);
    return end;
  }

  private finish(end: number): void {
    const mode = this.mode;
    this.mode = 'boundary';
    if (mode === 'collect') {
      const msg = this.collect!;
      this.collect = null;
      const replacement = this.sink.whole(msg);
      if (replacement) this.sink.out(replacement);
    }
    if (this.stopAtBoundary) {
      const fn = this.stopAtBoundary;
      this.stopAtBoundary = null;
      this.flushRun(end);
      this.stopped = true;
      fn();
    }
  }

  private flushRun(end: number): void {
    if (this.runStart >= 0 && end > this.runStart) this.sink.out(this.chunk.subarray(this.runStart, end));
    this.runStart = -1;
  }
}
