// Column masking on the PostgreSQL wire (docs/masking.md): which columns of a result are masked (read from its
// RowDescription), DataRows rewritten with those masks, and the server's errors and notices stripped of the values
// they may quote. The session's masked columns and the statement check live in inspect/masking.
import { maskedTail, maskWireValue, REDACTED, TAIL_NONE, TAIL_SLOW } from '../../domain/mask-values.js';
import type { MaskingPolicy } from '../../domain/masking.js';
import { checkPgMasking, type MaskCatalog, type MaskedColumnInfo } from '../../inspect/masking/index.js';
import type { Decision } from '../../inspect/index.js';
import { CATALOG_SAFE_KINDS } from './session-catalog.js';
import { BodyWriter, ProtocolError, typedMessage } from './protocol.js';

/** The columns of one result, as its RowDescription names them. */
export interface ResultColumns {
  count: number;
  /** Per column, its mask (null: in clear); null when no column is masked, so the DataRows stream untouched. */
  masks: (MaskedColumnInfo | null)[] | null;
  /** Per column, whether it comes in binary format (format code 1). */
  binary: boolean[];
  /**
   * Scratch for the row being rewritten (one at a time): each replaced value, where its length field is in the row,
   * and the length it had.
   */
  values: (Buffer | null)[];
  at: number[];
  was: number[];
}

/**
 * What a request's rows look like: `cols` undefined until a RowDescription (or NoData: null) arrives for it. A
 * simple Query has one, renewed for each of its statements; a portal has one from a Describe of it.
 */
export interface ResultShape {
  cols: ResultColumns | null | undefined;
}

/** A query text with no statement at all: what JDBC's isValid() and some pools send to check a connection. */
const EMPTY_QUERY = /^[\s;]*$/;

/** Masks one wire value (domain/mask-values.ts); a parameter so the relay's tests can supply their own. */
export type MaskValue = typeof maskWireValue;
export type MaskCheck = typeof checkPgMasking;

/** A session's masked columns (reloaded when the database's definitions change) and how statements are checked. */
export class SessionMasks {
  readonly maskValue: MaskValue;
  private readonly check: MaskCheck;

  constructor(
    public catalog: MaskCatalog,
    private readonly masking: Pick<MaskingPolicy, 'predicates'> & { role: string },
    impl: { maskValue?: MaskValue; check?: MaskCheck } = {},
  ) {
    this.maskValue = impl.maskValue ?? maskWireValue;
    this.check = impl.check ?? checkPgMasking;
  }

  /**
   * Why an allowed statement may not run in this session (a sentence starting 'airlock: '), or null. A statement
   * that may change the database's definitions is refused outright: a view, table or function made in the session
   * (a temporary one is never visible to the catalog loader) could show a masked column in clear before the gateway
   * learns of it. An empty query (a pool's connection check) reads nothing; any other text with no statement the
   * parser read is the masking check's to judge.
   */
  refusal(d: Decision, sql: string): string | null {
    if (d.statements.length === 0 && EMPTY_QUERY.test(sql)) return null;
    if (d.statements.some((s) => !CATALOG_SAFE_KINDS.has(s.kind))) {
      return `airlock: role "${this.masking.role}" masks columns in this database, so its sessions cannot change the database's definitions (CREATE, ALTER, DROP, COMMENT, GRANT, DO, CALL…): a new view, table or function could show a masked column unmasked; make schema changes with a role that masks nothing`;
    }
    const v = this.check(sql, this.catalog, { predicates: this.masking.predicates });
    if (v.ok) return null;
    return v.message.startsWith('airlock: ') ? v.message : `airlock: ${v.message}`;
  }
}

/** The result columns a RowDescription names, each with its mask from the catalog (by table OID and column number). */
export function describeColumns(msg: Buffer, catalog: MaskCatalog): ResultColumns {
  const end = msg.length;
  if (end < 7) throw new ProtocolError('the database server sent a RowDescription that is too short');
  const count = msg.readInt16BE(5);
  const binary: boolean[] = new Array<boolean>(count);
  let masks: (MaskedColumnInfo | null)[] | null = null;
  let at = 7;
  for (let i = 0; i < count; i++) {
    const nul = msg.indexOf(0, at);
    if (nul < 0 || nul + 19 > end) throw new ProtocolError('the database server sent a RowDescription the gateway cannot read');
    at = nul + 1;
    // Field: table OID int32, column number int16, type OID int32, type size int16, type modifier int32, format int16.
    const relid = msg.readUInt32BE(at);
    const attnum = msg.readInt16BE(at + 4);
    binary[i] = msg.readInt16BE(at + 16) === 1;
    at += 18;
    const mask = relid !== 0 ? catalog.maskOf(relid, attnum) : null;
    if (mask) {
      masks ??= new Array<MaskedColumnInfo | null>(count).fill(null);
      masks[i] = mask;
    }
  }
  return { count, masks, binary, values: [], at: [], was: [] };
}

/** A result's column count and a DataRow's disagree: the gateway cannot tell which value is which. */
export class ShapeMismatch extends Error {}

/** REDACTED's bytes, written in front of a kept tail (maskedTail). */
const REDACTED_CODES = Buffer.from(REDACTED, 'latin1');
/** Per masked value of the row being rewritten: where its kept tail starts (maskedTail), or TAIL_SLOW. */
let tails: Int32Array = new Int32Array(16);
/** Runs shorter than this are copied byte by byte: a native copy costs more than the loop for a few dozen bytes. */
const SHORT_COPY = 64;

function copyRun(src: Buffer, from: number, end: number, dst: Buffer, to: number): number {
  if (end - from >= SHORT_COPY) return to + src.copy(dst, to, from, end);
  while (from < end) dst[to++] = src[from++]!;
  return to;
}

/**
 * A DataRow with its masked columns' values replaced (NULL stays NULL). `msg` may be a view of a shared buffer: the
 * row returned is a buffer of its own. One pass decides each masked value — ASCII text under redact, email or
 * partial in place (maskedTail), anything else through maskValue — and sizes the row; a second writes it, the columns
 * in clear between two masked ones copied as one run.
 */
export function maskDataRow(msg: Buffer, cols: ResultColumns, maskValue: MaskValue = maskWireValue): Buffer {
  const masks = cols.masks!;
  const { values, at: where, was } = cols;
  const fast = maskValue === maskWireValue;
  const end = msg.length;
  if (end < 7 || msg.readInt16BE(5) !== cols.count) throw new ShapeMismatch();
  if (tails.length < cols.count) tails = new Int32Array(cols.count);
  let n = 0;
  let at = 7;
  let size = end;
  for (let i = 0; i < cols.count; i++) {
    if (at + 4 > end) throw new ProtocolError('the database server sent a DataRow the gateway cannot read');
    const len = (msg[at]! << 24) | (msg[at + 1]! << 16) | (msg[at + 2]! << 8) | msg[at + 3]!;
    if (len > end - at - 4) throw new ProtocolError('the database server sent a DataRow the gateway cannot read');
    const mask = masks[i];
    if (mask && len >= 0) {
      const tail = fast ? maskedTail(msg, at + 4, at + 4 + len, mask.kind, mask.mask) : TAIL_SLOW;
      tails[n] = tail;
      if (tail === TAIL_SLOW) {
        const v = maskValue(msg.subarray(at + 4, at + 4 + len), mask.kind, cols.binary[i]!, mask.mask);
        values[n] = v;
        size += (v ? v.length : 0) - len;
      } else {
        size += REDACTED_CODES.length + (tail === TAIL_NONE ? 0 : at + 4 + len - tail) - len;
      }
      where[n] = at;
      was[n++] = len;
    }
    at += 4 + Math.max(len, 0);
  }
  if (at !== end) throw new ProtocolError('the database server sent a DataRow the gateway cannot read');
  const out = Buffer.allocUnsafe(size);
  let from = 0;
  let to = 0;
  for (let k = 0; k < n; k++) {
    to = copyRun(msg, from, where[k]!, out, to);
    const tail = tails[k]!;
    from = where[k]! + 4 + was[k]!;
    if (tail !== TAIL_SLOW) {
      // The kept tail runs to the value's end, which is where the next run starts.
      to = out.writeInt32BE(REDACTED_CODES.length + (tail === TAIL_NONE ? 0 : from - tail), to);
      for (let j = 0; j < REDACTED_CODES.length; j++) out[to++] = REDACTED_CODES[j]!;
      if (tail !== TAIL_NONE) to = copyRun(msg, tail, from, out, to);
      continue;
    }
    const v = values[k]!;
    values[k] = null;
    if (v === null) to = out.writeInt32BE(-1, to);
    else {
      to = out.writeInt32BE(v.length, to);
      to += v.copy(out, to);
    }
  }
  copyRun(msg, from, end, out, to);
  out.writeInt32BE(size - 1, 1);
  return out;
}

/** Fields of an ErrorResponse or NoticeResponse that may quote a value: Detail, Where (context), internal query and its position. */
const VALUE_FIELDS = new Set([0x44, 0x57, 0x71, 0x70]);
const CODE = 0x43;
const MESSAGE = 0x4d;

/**
 * An ErrorResponse or NoticeResponse without what may quote a masked value: Detail and Where go (`Key (email)=(…)`,
 * `Failing row contains (…)`, a PL/pgSQL line), and for data exceptions and integrity violations (SQLSTATE classes
 * 22 and 23) every quoted or parenthesised part of the message becomes "…" (`invalid input syntax for type integer:
 * "…"`); the SQLSTATE stays. PostgreSQL quotes such values without escaping, so the span runs from the first quote
 * to the last. `msg` itself when nothing changes.
 */
export function scrubServerMessage(msg: Buffer): Buffer {
  const fields: [number, string][] = [];
  let changed = false;
  let code = '';
  let at = 5;
  while (at < msg.length && msg[at] !== 0) {
    const type = msg[at]!;
    const nul = msg.indexOf(0, at + 1);
    if (nul < 0) throw new ProtocolError('the database server sent an error the gateway cannot read');
    const value = msg.toString('utf8', at + 1, nul);
    at = nul + 1;
    if (VALUE_FIELDS.has(type)) {
      changed = true;
      continue;
    }
    if (type === CODE) code = value;
    fields.push([type, value]);
  }
  const classOfValues = code.startsWith('22') || code.startsWith('23');
  if (!changed && !classOfValues) return msg;
  const w = new BodyWriter();
  for (const [type, value] of fields) w.byte(type).cstring(type === MESSAGE && classOfValues ? scrubValues(value) : value);
  return typedMessage(msg[0]!, w.byte(0).build());
}

/** Quoted and parenthesised spans of a message replaced: from the first `"` to the last, then from the first `(` to the last `)`. */
export function scrubValues(message: string): string {
  return message.replace(/"[^]*"/, '"…"').replace(/\([^]*\)/, '(…)');
}
